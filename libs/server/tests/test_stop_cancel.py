"""The host's stop of its services when the stopping task is itself cancelled (a second Ctrl-C,
an embedding's teardown): every service is still stopped, and the cancel is raised.

Python 3.11's `asyncio.wait_for` swallowed a cancel that came in the turn a service's stop
finished (the caller was told the stop completed); a cancel at any other moment left the
services not yet stopped running (their consumers, leases and connections leaked)."""

from __future__ import annotations

import asyncio

import pytest
from tidal_server import host

from tests.support.polling import until


class _Service:
    def __init__(self, name: str, gate: asyncio.Future[None] | None = None) -> None:
        self.name = name
        self.gate = gate
        self.stopping = False
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopping = True
        if self.gate is not None:
            await self.gate
        self.stopped = True


@pytest.mark.parametrize("as_it_stops", [True, False], ids=["cancel-as-it-stops", "cancel-while-it-stops"])
async def test_a_cancelled_stop_still_stops_every_service_and_is_cancelled(as_it_stops: bool) -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    first, last = _Service("first"), _Service("last", gate)
    stopping = asyncio.create_task(host._stop_all([first, last], 30))  # stops `last` first
    await until(lambda: last.stopping, what="the last service to be stopping")
    if as_it_stops:
        gate.set_result(None)  # `last` finishes stopping in the turn its stopper is cancelled
    stopping.cancel()
    await until(stopping.done, what="the stop to finish")
    assert stopping.cancelled()
    assert first.stopped
