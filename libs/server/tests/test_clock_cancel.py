"""A sleeper on the time-skipping clock that is cancelled in the turn a skip wakes it is
cancelled: Python 3.11's `asyncio.wait_for` swallowed that cancel, and the sleeping task (a timer
loop being stopped, a test's deadline) ran on as if nothing had asked it to stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tidal_server.clock import SkippingClock


async def test_a_sleeper_cancelled_as_a_skip_wakes_it_is_cancelled() -> None:
    clock = SkippingClock()
    for _ in range(5):
        sleeper = asyncio.create_task(clock.sleep(3600))
        await asyncio.sleep(0.01)  # asleep on the clock
        clock.advance(timedelta(hours=2))  # wakes it (its wait's own task first)...
        asyncio.get_running_loop().call_soon(sleeper.cancel)  # ...and cancels it in the same turns
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        assert sleeper.cancelled()
