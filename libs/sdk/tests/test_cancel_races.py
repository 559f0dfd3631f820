"""A worker's task cancelled in the loop turn its awaited result arrives is cancelled.

Python 3.11's `asyncio.wait_for` returns (or raises) what arrived in the turn its caller is
cancelled and swallows the cancel. Where it guarded an activity's timeout, a local activity's
timeout or the deadlock check, a worker task told to stop ran on: a local activity that failed
in that turn was retried (run again after its cancel), an activity attempt went on to report.
Each test makes the result arrive in the same turn as the cancel, deterministically. (The deadlock
check's thread answers through `call_soon_threadsafe`, which a test cannot place in one turn with
a cancel; it uses `asyncio.timeout` the same way.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from tidal import activity
from tidal._activity_worker import ActivityWorker
from tidal._local_activities import run_local_activity
from tidal._runtime.local_activities import LocalActivityRequest
from tidal.converter import DataConverter
from tidal_schema import RetryPolicy
from tidal_schema.messages import ActivityTask, WorkflowTask

from tests.support.polling import until

T = TypeVar("T")


async def _cancel_as_it_arrives(
    task: asyncio.Task[T], gate: asyncio.Future[None], arrive: Callable[[asyncio.Future[None]], None]
) -> None:
    """Release `gate` (what the task's awaited work waits for) and cancel `task` in one turn."""
    arrive(gate)
    task.cancel()
    await until(task.done)
    assert task.cancelled(), f"ran on after its cancel: {task.result()!r}"


def _gated(
    calls: list[int], started: asyncio.Event, gate: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[str]]:
    @activity.defn(name="gated")
    async def gated() -> str:
        calls.append(1)
        started.set()
        await gate()
        raise RuntimeError("failed in the turn the worker was cancelled")

    return gated


async def test_a_local_activity_cancelled_as_its_attempt_fails_is_not_retried() -> None:
    loop = asyncio.get_running_loop()
    calls: list[int] = []
    started = asyncio.Event()
    gates: list[asyncio.Future[None]] = []

    async def gate() -> None:
        gates.append(loop.create_future())
        await gates[-1]

    defn = activity.get_definition(_gated(calls, started, gate))
    req = LocalActivityRequest(
        seq=1,
        activity_id="1",
        activity_type="gated",
        input=(),
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=None,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=1)),
        local_retry_threshold=timedelta(seconds=60),
    )
    wf_task = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="W",
        task_queue="q",
        scheduled_event_id=2,
        history_length=2,
        events=(),
        history_routing_key="h",
    )
    running = asyncio.create_task(
        run_local_activity(
            req, task=wf_task, activities={"gated": defn}, executor=None, converter=DataConverter.default
        )
    )
    await until(started.is_set)
    gates[0].set_result(None)
    running.cancel()
    # Before the fix the cancel was swallowed and the attempt retried (a second call, waiting on
    # a gate nobody opens).
    try:
        await until(lambda: running.done() or len(calls) > 1)
        assert calls == [1]
        assert running.cancelled()
    finally:
        running.cancel()


def _activity_task(timeout: timedelta | None) -> ActivityTask:
    now = datetime.now(UTC)
    return ActivityTask(
        workflow_id="w",
        run_id="r",
        workflow_type="W",
        activity_id="1",
        activity_type="slow",
        task_queue="q",
        scheduled_event_id=5,
        scheduled_time=now,
        current_attempt_scheduled_time=now,
        start_to_close_timeout=timeout,
        history_routing_key="h",
    )


@pytest.mark.parametrize("timeout", [timedelta(seconds=30), None])
async def test_an_activity_attempt_cancelled_as_it_completes_is_cancelled(timeout: timedelta | None) -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    started = asyncio.Event()

    @activity.defn(name="slow")
    async def slow() -> str:
        started.set()
        await gate
        return "done"

    published: list[bytes] = []

    async def publish(routing_key: str, body: bytes, **_: Any) -> None:
        published.append(body)

    worker = ActivityWorker(
        task_queue="q",
        activities={"slow": activity.get_definition(slow)},
        executor=None,
        converter=DataConverter.default,
        identity="me",
        publish=publish,
    )
    running = asyncio.create_task(worker.run(_activity_task(timeout)))
    await until(started.is_set)
    await _cancel_as_it_arrives(running, gate, lambda g: g.set_result(None))
