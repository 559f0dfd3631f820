"""The multiprocessing SharedStateManager (temporalio's): heartbeats sent from another process's
side reach the registered function in order, and unregistering never wedges the attempt."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tidal import _activity_process
from tidal.worker import SharedStateManager


@pytest.fixture(scope="module")
def mgr() -> Iterator[Any]:
    with multiprocessing.get_context("spawn").Manager() as m:
        yield m


async def test_heartbeats_reach_the_registered_function_before_unregister_returns(mgr: Any) -> None:
    manager = SharedStateManager.create_from_multiprocessing(mgr)
    seen: list[tuple[Any, ...]] = []
    sender = await manager.register_heartbeater(b"t1", lambda *d: seen.append(d))
    for i in range(5):
        await asyncio.to_thread(sender.send_heartbeat, b"t1", i, "x")
    await asyncio.wait_for(manager.unregister_heartbeater(b"t1"), 10)
    assert seen == [(i, "x") for i in range(5)]
    event = manager.new_event()
    assert not event.is_set()
    event.set()
    assert event.wait(1)


class _NeverRuns(concurrent.futures.Executor):
    """An executor whose poller never runs: as if the poller thread had died."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        return concurrent.futures.Future()


async def test_unregister_is_bounded_when_nobody_reads_the_queue(
    mgr: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_activity_process, "_FLUSH_SECONDS", 0.2)
    manager = SharedStateManager.create_from_multiprocessing(mgr, _NeverRuns())
    await manager.register_heartbeater(b"t2", lambda *d: None)
    await asyncio.wait_for(manager.unregister_heartbeater(b"t2"), 10)  # hung forever before
