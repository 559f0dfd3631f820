"""Deadline-bounded polling for tests: wait until a condition that no event announces comes true,
failing with what was awaited (never a bare sleep as synchronisation)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["until"]


async def until(
    predicate: Callable[[], bool],
    *,
    what: str = "the condition",
    deadline: float = 10.0,
    interval: float = 0.001,
) -> None:
    """Return once `predicate()` is true; fail the test if it is not within `deadline` seconds
    (the loop's clock). `interval` is the pause between checks."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not predicate():
        assert loop.time() < end, f"timed out after {deadline} s waiting for {what}"
        await asyncio.sleep(interval)
