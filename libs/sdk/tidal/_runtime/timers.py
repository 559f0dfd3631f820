"""The run's durable timers: every `call_later` of the workflow's loop (asyncio.sleep,
wait_for timeouts, workflow.sleep) becomes a StartTimer command; cancelling the handle cancels the
timer (or drops the command if it was never sent); TimerFired makes the callback ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from tidal_schema.commands import CancelTimer, StartTimer
from tidal_schema.limits import MAX_DURATION_SECONDS

from .activation import ActivationState

__all__ = ["Timers"]


class Timers:
    def __init__(self, state: ActivationState) -> None:
        self._state = state
        self._seq = 0
        self._by_id: dict[str, asyncio.TimerHandle] = {}
        self._of_handle: dict[int, tuple[str, StartTimer]] = {}  # id(handle) -> timer
        # The summary for the durable timer the next `call_later` makes (`call_later_with_summary`).
        self._summary: str | None = None

    def call_later_with_summary(
        self, seconds: float, callback: Callable[[], None], summary: str | None
    ) -> asyncio.TimerHandle:
        """`loop.call_later` whose durable timer carries `summary` (temporalio's user metadata)."""
        self._summary = summary
        try:
            return self._state.loop.call_later(seconds, callback)
        finally:
            self._summary = None

    def start(self, handle: asyncio.TimerHandle, delay: float) -> None:
        if not delay <= MAX_DURATION_SECONDS:  # also NaN; infinity would overflow below
            # Fails this workflow task with a clear cause, instead of a timer history cannot set.
            raise ValueError(
                f"workflow timer of {delay}s exceeds the maximum duration of "
                f"{MAX_DURATION_SECONDS}s (100 years)"
            )
        self._seq += 1
        tid = str(self._seq)
        # Millisecond precision: loop time is float epoch seconds, so `call_at` deltas carry noise.
        ms = max(1, round(delay * 1000))
        cmd = StartTimer(
            timer_id=tid, start_to_fire_timeout=timedelta(milliseconds=ms), summary=self._summary
        )
        self._by_id[tid] = handle
        self._of_handle[id(handle)] = (tid, cmd)
        self._state.add_command(cmd)

    def cancel(self, handle: asyncio.TimerHandle) -> None:
        entry = self._of_handle.pop(id(handle), None)
        if entry is None:  # already fired, or a zero-delay handle with no durable timer
            return
        tid, cmd = entry
        self._by_id.pop(tid, None)
        if not self._state.remove_command(cmd):
            self._state.add_command(CancelTimer(timer_id=tid))

    def fire(self, timer_id: str) -> None:
        """TimerFired: the callback becomes ready (unless the code cancelled the timer since)."""
        handle = self._by_id.pop(timer_id, None)
        if handle is not None:
            self._of_handle.pop(id(handle), None)
            self._state.loop.fire(handle)
