"""Pacing for `Worker(max_activities_per_second=...)`: attempts start at most that often."""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]


class Pacer:
    def __init__(self, per_second: float) -> None:
        if not per_second > 0:
            raise ValueError(f"max_activities_per_second must be positive, not {per_second}")
        self._interval = 1.0 / per_second
        self._next = 0.0

    async def wait_turn(self) -> None:
        """Returns when this caller may start; callers are spaced by 1/rate seconds (the sleep
        is the rate limit itself, not a wait for something to happen)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)
