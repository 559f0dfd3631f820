"""Injectable time, so time-dependent logic (timers, leases, backoff) is testable without sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Time moves only when a test calls `advance`; sleepers wake when their deadline passes."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + timedelta(seconds=seconds), fut))
        await fut

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        due = [(t, f) for t, f in self._sleepers if t <= self._now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)


class SkippingClock:
    """Wall-clock time plus an offset that only grows: `skip_to` jumps ahead and wakes every
    sleeper whose deadline the jump passed. Between jumps time flows normally, so heartbeats and
    real I/O keep working. The time-skipping test environment drives it."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._jumped = asyncio.Event()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    async def sleep(self, seconds: float) -> None:
        deadline = self.now() + timedelta(seconds=max(0.0, seconds))
        while (left := (deadline - self.now()).total_seconds()) > 0:
            jumped = self._jumped
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel that
                # comes in the turn the skip wakes the sleeper (the sleeping task then ran on).
                async with asyncio.timeout(left):
                    await jumped.wait()
            except TimeoutError:
                pass
        await asyncio.sleep(0)

    def skip_to(self, when: datetime) -> None:
        delta = when - self.now()
        if delta <= timedelta(0):
            return
        self._offset += delta
        # A fresh event per jump: sleepers waiting on the old one wake and re-check their deadline.
        self._jumped.set()
        self._jumped = asyncio.Event()

    def advance(self, delta: timedelta | float) -> None:
        self.skip_to(self.now() + (delta if isinstance(delta, timedelta) else timedelta(seconds=delta)))
