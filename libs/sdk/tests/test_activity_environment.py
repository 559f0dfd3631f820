"""`tidal.testing.ActivityEnvironment`: activity code run outside a worker with the context the
test drives (info, heartbeats, cancellation with its details, worker shutdown, client)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from tidal import activity
from tidal.testing import ActivityEnvironment


async def test_info_and_heartbeats_reach_the_test() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3, activity_type="charge")
    beats: list[tuple[object, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    @activity.defn
    async def charge(amount: int) -> str:
        activity.heartbeat("half", amount)
        info = activity.info()
        return f"{info.activity_type}#{info.attempt}:{amount}"

    assert await env.run(charge, 5) == "charge#3:5"
    assert beats == [("half", 5)]
    with pytest.raises(RuntimeError, match="No client"):
        await env.run(activity.client)  # type: ignore[arg-type]


async def test_cancel_interrupts_an_async_activity_and_says_why() -> None:
    env = ActivityEnvironment()
    waiting = asyncio.Event()
    seen: list[object] = []

    async def forever() -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(activity.cancellation_details())
            raise

    run = asyncio.ensure_future(env.run(forever))
    await asyncio.wait_for(waiting.wait(), 5)
    env.cancel(activity.ActivityCancellationDetails(timed_out=True))
    env.cancel()  # only the first counts
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 5)
    assert seen == [activity.ActivityCancellationDetails(timed_out=True)]
    # Later runs start cancelled.
    with pytest.raises(asyncio.CancelledError):
        await env.run(forever)


def test_a_sync_activity_sees_cancellation_and_shutdown_by_polling() -> None:
    env = ActivityEnvironment()
    started = threading.Event()

    def poll() -> tuple[bool, bool, object]:
        started.set()
        activity.wait_for_cancelled_sync(timeout=10)
        activity.wait_for_worker_shutdown_sync(timeout=10)
        return activity.is_cancelled(), activity.is_worker_shutdown(), activity.cancellation_details()

    out: list[tuple[bool, bool, object]] = []
    t = threading.Thread(target=lambda: out.append(env.run(poll)))
    t.start()
    assert started.wait(10)
    env.cancel()
    env.worker_shutdown()
    t.join(10)
    assert out == [(True, True, activity.ActivityCancellationDetails(cancel_requested=True))]


async def test_worker_shutdown_and_client_in_async_activities() -> None:
    marker = object()
    env = ActivityEnvironment(client=marker)  # type: ignore[arg-type]
    env.worker_shutdown()

    async def until_shutdown() -> object:
        await activity.wait_for_worker_shutdown()
        return activity.client()

    assert await env.run(until_shutdown) is marker
