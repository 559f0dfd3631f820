"""`tidal.activity` context functions on a real worker (issue 11): `activity.client()`,
`cancellation_details()`, `is_worker_shutdown()` / `wait_for_worker_shutdown()`, the logger
adapter and `Info` fields; shared by the embedded and the real-stack tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RawValue, RetryPolicy
from tidal.exceptions import ActivityError, CancelledError
from tidal.worker import Worker
from tidal.workflow import ActivityCancellationType

__all__ = [
    "ACTIVITIES",
    "WORKFLOWS",
    "cancellation_details_say_why",
    "client_inside_an_activity",
    "dynamic_activity_runs_unregistered_types",
    "worker_shutdown_is_told_to_activities",
]

DEADLINE = 60
_SEEN: dict[str, Any] = {}  # workflow id -> what an activity observed
_STARTED: dict[str, asyncio.Event] = {}


@activity.defn(name="ctx_signal_back")
async def signal_back(value: str) -> dict[str, Any]:
    """Signals its own workflow through the worker's client."""
    info = activity.info()
    await activity.client().get_workflow_handle(info.workflow_id).signal("got", value)
    return {"activity_run_id": info.activity_run_id, "namespace": info.namespace, "is_local": info.is_local}


@activity.defn(name="ctx_until_cancelled")
async def until_cancelled() -> None:
    wid = activity.info().workflow_id
    assert activity.cancellation_details() is None
    await activity.client().get_workflow_handle(wid).signal("got", "started")
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        _SEEN[wid] = activity.cancellation_details()
        raise


@activity.defn(name="ctx_until_shutdown")
async def until_shutdown() -> str:
    wid = activity.info().workflow_id
    before = activity.is_worker_shutdown()
    _STARTED[wid].set()
    await activity.wait_for_worker_shutdown()
    return f"before={before} after={activity.is_worker_shutdown()}"


@activity.defn(dynamic=True, no_thread_cancel_exception=True)
async def any_type(args: Sequence[RawValue]) -> str:
    """Runs every activity type this worker has no activity of its own for, decoding its raw
    arguments with the worker's payload converter (`activity.payload_converter()`)."""
    with activity.shield_thread_cancel_exception():
        values = activity.payload_converter().from_payloads([a.payload for a in args])
    return f"{activity.info().activity_type}{values}"


@workflow.defn
class CallsUnregistered:
    @workflow.run
    async def run(self) -> list[str]:
        remote = await workflow.execute_activity(
            "ctx_not_registered", args=["a", 2], start_to_close_timeout=timedelta(seconds=30), result_type=str
        )
        local = await workflow.execute_local_activity(
            "ctx_local_not_registered",
            args=[3],
            start_to_close_timeout=timedelta(seconds=30),
            result_type=str,
        )
        return [remote, local]


@workflow.defn
class SignalBack:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, value: str) -> dict[str, Any]:
        info = await workflow.execute_activity(
            signal_back, value, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.wait_condition(lambda: bool(self.got))
        return {"got": self.got, "info": info}

    @workflow.signal
    def got(self, value: str) -> None:
        self.got.append(value)


@workflow.defn
class CancelsItsActivity:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            until_cancelled,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: bool(self.got))
        handle.cancel()
        try:
            await handle
        except ActivityError as err:
            return type(err.cause).__name__
        return "not cancelled"

    @workflow.signal
    def got(self, value: str) -> None:
        self.got.append(value)


@workflow.defn
class WaitsForShutdown:
    @workflow.run
    async def run(self, task_queue: str) -> str:
        return await workflow.execute_activity(
            until_shutdown,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


WORKFLOWS = [SignalBack, CancelsItsActivity, WaitsForShutdown, CallsUnregistered]
ACTIVITIES = [signal_back, until_cancelled, any_type]


async def client_inside_an_activity(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        SignalBack.run, "hi", id=f"ctx-client-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    out = await asyncio.wait_for(handle.result(), DEADLINE)
    assert out["got"] == ["hi"]
    assert out["info"] == {"activity_run_id": None, "namespace": client.namespace, "is_local": False}


async def cancellation_details_say_why(client: Client, task_queue: str) -> None:
    wid = f"ctx-cancel-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(CancelsItsActivity.run, id=wid, task_queue=task_queue)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == CancelledError.__name__
    assert _SEEN.pop(wid) == activity.ActivityCancellationDetails(cancel_requested=True)


async def worker_shutdown_is_told_to_activities(client: Client, task_queue: str) -> None:
    """A worker shutting down tells its running activities at once; one that then finishes within
    the graceful shutdown timeout completes normally."""
    queue = f"ctx-shutdown-{uuid.uuid4().hex[:8]}"
    wid = f"ctx-shutdown-{uuid.uuid4().hex[:8]}"
    _STARTED[wid] = asyncio.Event()
    worker = Worker(
        client,
        task_queue=queue,
        activities=[until_shutdown],
        graceful_shutdown_timeout=timedelta(seconds=DEADLINE),
    )
    await worker.start()
    try:
        handle = await client.start_workflow(WaitsForShutdown.run, queue, id=wid, task_queue=task_queue)
        await asyncio.wait_for(_STARTED[wid].wait(), DEADLINE)
    finally:
        await asyncio.wait_for(worker.shutdown(), DEADLINE)
        del _STARTED[wid]
    assert await asyncio.wait_for(handle.result(), DEADLINE) == "before=False after=True"


async def dynamic_activity_runs_unregistered_types(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        CallsUnregistered.run, id=f"ctx-dynamic-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    assert await asyncio.wait_for(handle.result(), DEADLINE) == [
        "ctx_not_registered['a', 2]",
        "ctx_local_not_registered[3]",
    ]
