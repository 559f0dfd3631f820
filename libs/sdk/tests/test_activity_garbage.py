"""An activity attempt leaves no cyclic garbage: its objects (the attempt, its context with two
threading events, the chain's task, the interceptor links) are freed by reference counting when
the attempt ends, not left for the cyclic collector (docs/performance.md, "CPU per activity round
trip", session 12). A heartbeat still reaches history while the attempt runs, and one sent after
it ended (a thread the worker abandoned) is dropped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from tidal import activity
from tidal._activity_worker import ActivityWorker
from tidal.converter import DataConverter
from tidal_schema.messages import ActivityTask, CompleteActivityTask

from tests.support.polling import until


def _task(activity_type: str) -> ActivityTask:
    now = datetime.now(UTC)
    return ActivityTask(
        workflow_id="w",
        run_id="r",
        workflow_type="W",
        activity_id="1",
        activity_type=activity_type,
        task_queue="q",
        scheduled_event_id=5,
        scheduled_time=now,
        current_attempt_scheduled_time=now,
        # No timeouts: a timeout's cancelled timer handle stays in the loop's heap (holding the
        # attempt's context) until asyncio sweeps it, which would hide what is tested here.
        history_routing_key="h",
    )


@contextmanager
def _collector_off() -> Iterator[None]:
    """Only reference counting frees objects inside the block."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _worker(
    defn: activity.ActivityDefinition, published: list[tuple[str, bytes]], **kw: Any
) -> ActivityWorker:
    async def publish(routing_key: str, body: bytes, **_: Any) -> None:
        published.append((routing_key, body))

    return ActivityWorker(
        task_queue="q",
        activities={defn.name: defn},
        converter=DataConverter.default,
        identity="me",
        publish=publish,
        **kw,
    )


async def test_an_async_attempt_that_heartbeats_leaves_no_cyclic_garbage() -> None:
    contexts: list[weakref.ref[activity._Context]] = []

    @activity.defn(name="beats")
    async def beats(n: int) -> int:
        ctx = activity._current.get()
        assert ctx is not None
        contexts.append(weakref.ref(ctx))
        for i in range(n):
            activity.heartbeat(i)
            await asyncio.sleep(0)
        return activity.info().attempt

    published: list[tuple[str, bytes]] = []
    worker = _worker(activity.get_definition(beats), published, executor=None)
    task = _task("beats").model_copy(update={"input": DataConverter.default.to_payloads([3])})
    with _collector_off():
        for _ in range(5):
            report = await worker.run(task)
            assert isinstance(report, CompleteActivityTask)
        await until(lambda: len(published) >= 5)  # the first heartbeat of each attempt went out
        for _ in range(3):
            await asyncio.sleep(0)  # the cancelled heartbeat senders finish
        assert [ref() for ref in contexts] == [None] * 5
    assert all(key == "h" for key, _ in published)


async def test_a_sync_attempt_on_a_thread_leaves_no_cyclic_garbage_and_a_late_heartbeat_is_dropped() -> None:
    release = threading.Event()
    done = threading.Event()

    contexts: list[weakref.ref[activity._Context]] = []

    @activity.defn(name="sync")
    def sync_activity() -> str:
        ctx = activity._current.get()
        assert ctx is not None
        contexts.append(weakref.ref(ctx))
        activity.heartbeat("on a thread")
        return activity.info().activity_id

    published: list[tuple[str, bytes]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        worker = _worker(activity.get_definition(sync_activity), published, executor=pool)
        with _collector_off():
            for _ in range(5):
                report = await worker.run(_task("sync"))
                assert isinstance(report, CompleteActivityTask)
            await until(lambda: len(published) >= 5)
            for _ in range(3):
                await asyncio.sleep(0)
            assert [ref() for ref in contexts] == [None] * 5

        @activity.defn(name="late")
        def late() -> None:
            # The attempt's heartbeat hook, called from a thread that outlives the attempt.
            ctx = activity._current.get()
            assert ctx is not None
            hook = ctx.heartbeat

            def later() -> None:
                release.wait(10)
                assert hook is not None
                hook("after the end")
                done.set()

            threading.Thread(target=later, daemon=True).start()

        worker = _worker(activity.get_definition(late), published, executor=pool)
        before = len(published)
        assert isinstance(await worker.run(_task("late")), CompleteActivityTask)
        release.set()
        await until(done.is_set)
        for _ in range(3):
            await asyncio.sleep(0)  # the hook's call_soon_threadsafe callback runs
        assert len(published) == before


async def test_info_through_the_outbound_chain_is_the_attempts() -> None:
    @activity.defn(name="who")
    async def who() -> str:
        return activity.info().activity_id

    worker = _worker(activity.get_definition(who), [], executor=None)
    report = await worker.run(_task("who"))
    assert isinstance(report, CompleteActivityTask)
    assert DataConverter.default.from_payloads(report.result) == ["1"]
