"""Temporal code that must port by changing imports (issue 11): error causes and retry states,
describe's parent/root fields, the handle's first run id, `workflow.all_handlers_finished`,
`info().get_current_history_length()` and `WorkflowEnvironment.from_client`. Run embedded and on
the real stack by tests/e2e/test_parity_gaps.py. Written as temporalio code would be: only the
import lines differ."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import (
    Priority,
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
    WorkflowFailureError,
)
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

TASK_QUEUE = "e2e-parity"
# Results of workflows that read the ported attributes; before the fix the workflow task failed
# forever (AttributeError), so every wait has a deadline.
DEADLINE = 60.0


@activity.defn
async def refuse(reason: str) -> str:
    raise ApplicationError(reason, type="Refused", non_retryable=True)


@workflow.defn
class FailingChild:
    @workflow.run
    async def run(self, reason: str) -> None:
        raise ApplicationError(reason, type="ChildRefused", non_retryable=True)


@workflow.defn
class CauseReader:
    """Reads `err.cause` and `err.retry_state` as temporalio code does."""

    @workflow.run
    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            await workflow.execute_activity(
                refuse,
                "no",
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            assert err.retry_state is RetryState.NON_RETRYABLE_FAILURE
            out["activity"] = [err.cause.type, err.cause.message, err.retry_state.name]
        try:
            await workflow.execute_child_workflow(
                FailingChild.run, "child no", id=f"{workflow.info().workflow_id}-child"
            )
        except ChildWorkflowError as err:
            assert isinstance(err.cause, ApplicationError)
            out["child"] = [err.cause.type, err.cause.message]
        raise ApplicationError("parent gives up", out, type="ParentGaveUp", non_retryable=True)


async def error_causes_and_retry_state(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(CauseReader.run, id=f"cause-{uuid.uuid4()}", task_queue=task_queue)
    try:
        await asyncio.wait_for(handle.result(), DEADLINE)
    except WorkflowFailureError as err:
        assert isinstance(err.cause, ApplicationError)
        assert err.cause.type == "ParentGaveUp"
        assert list(err.cause.details) == [
            {
                "activity": ["Refused", "no", "NON_RETRYABLE_FAILURE"],
                "child": ["ChildRefused", "child no"],
            }
        ]
    else:
        raise AssertionError("the workflow should have failed")


@workflow.defn
class Leaf:
    @workflow.run
    async def run(self) -> str:
        assert workflow.instance() is self
        return workflow.info().workflow_id


@workflow.defn
class Middle:
    @workflow.run
    async def run(self) -> str:
        return str(await workflow.execute_child_workflow(Leaf.run, id=f"{workflow.info().workflow_id}-leaf"))


@workflow.defn
class Top:
    @workflow.run
    async def run(self) -> str:
        return str(
            await workflow.execute_child_workflow(Middle.run, id=f"{workflow.info().workflow_id}-middle")
        )


async def describe_parent_and_root(client: Client, task_queue: str) -> None:
    top_id = f"top-{uuid.uuid4()}"
    handle = await client.start_workflow(Top.run, id=top_id, task_queue=task_queue)
    assert handle.first_execution_run_id == handle.run_id
    assert await asyncio.wait_for(handle.result(), DEADLINE) == f"{top_id}-middle-leaf"

    top = await handle.describe()
    middle = await client.get_workflow_handle(f"{top_id}-middle").describe()
    leaf = await client.get_workflow_handle(f"{top_id}-middle-leaf").describe()
    assert (top.parent_id, top.parent_run_id) == (None, None)
    assert (top.root_id, top.root_run_id) == (top_id, handle.run_id)
    assert (middle.parent_id, middle.parent_run_id) == (top_id, handle.run_id)
    assert (middle.root_id, middle.root_run_id) == (top_id, handle.run_id)
    assert (leaf.parent_id, leaf.parent_run_id) == (f"{top_id}-middle", middle.run_id)
    assert (leaf.root_id, leaf.root_run_id) == (top_id, handle.run_id)
    assert leaf.namespace == top.namespace == client.namespace

    again = client.get_workflow_handle(top_id, first_execution_run_id=handle.run_id)
    assert again.first_execution_run_id == handle.run_id


@workflow.defn
class HandlerWaiter:
    """Returns only after its async signal handler finished, as temporalio code waits with
    `workflow.wait_condition(workflow.all_handlers_finished)`."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.released = False

    @workflow.signal
    async def work(self) -> None:
        self.log.append("handler started")
        await workflow.wait_condition(lambda: self.released)
        self.log.append("handler done")

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self) -> list[Any]:
        await workflow.wait_condition(lambda: bool(self.log))
        self.log.append(workflow.all_handlers_finished())
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.log.append(workflow.all_handlers_finished())
        return self.log


async def all_handlers_finished(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        HandlerWaiter.run, id=f"handlers-{uuid.uuid4()}", task_queue=task_queue
    )
    await handle.signal(HandlerWaiter.work)
    await handle.signal(HandlerWaiter.release)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == [
        "handler started",
        False,
        "handler done",
        True,
    ]


@workflow.defn
class HistoryLength:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        lengths = [workflow.info().get_current_history_length()]
        await workflow.sleep(0.01)
        lengths.append(workflow.info().get_current_history_length())
        info = workflow.info()
        policy = info.retry_policy
        micros = (workflow.now() - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return {
            "time_ns": workflow.time_ns() == micros * 1000,
            "lengths": lengths,
            "first": info.first_execution_run_id,
            "original": info.original_execution_run_id,
            "cron": info.cron_schedule,
            "max_attempts": policy.maximum_attempts if policy else None,
        }


async def current_history_length(client: Client, task_queue: str) -> None:
    """`info().get_current_history_length()` and the start event's fields on `info()`."""
    handle = await client.start_workflow(
        HistoryLength.run,
        id=f"length-{uuid.uuid4()}",
        task_queue=task_queue,
        retry_policy=RetryPolicy(maximum_attempts=2),
    )
    out = await asyncio.wait_for(handle.result(), DEADLINE)
    assert (out["first"], out["original"], out["cron"], out["max_attempts"]) == (
        handle.run_id,
        handle.run_id,
        None,
        2,
    )
    assert out["time_ns"] is True
    lengths = out["lengths"]
    history = await handle.fetch_history()
    scheduled = [e.event_id for e in history.events if e.event_type == "WorkflowTaskScheduled"]
    # Each activation sees the history up to its task's WorkflowTaskScheduled.
    assert lengths == scheduled[:2], (lengths, scheduled)
    assert lengths[0] == 2


async def environment_from_client(client: Client, task_queue: str) -> None:
    """A test suite written against a running server builds its environment from a client;
    shutting the environment down leaves the caller's client (and server) alone."""
    env = WorkflowEnvironment.from_client(client)
    assert env.client is client
    handle = await env.client.start_workflow(
        Leaf.run, id=f"from-client-{uuid.uuid4()}", task_queue=task_queue
    )
    assert await asyncio.wait_for(handle.result(), DEADLINE) == handle.id
    await env.shutdown()
    assert (await client.get_workflow_handle(handle.id).describe()).id == handle.id


class _Blocking:
    """An activity that runs until cancelled on its first attempt and returns on the next."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.seen: list[str] = []

    @activity.defn(name="parity_block_once")
    async def block_once(self) -> int:
        attempt = activity.info().attempt
        if attempt > 1:
            return attempt
        self.started.set()
        try:
            await asyncio.Event().wait()  # only a cancellation ends it
        except asyncio.CancelledError:
            self.seen.append("cancelled")
            raise
        return attempt


@workflow.defn
class BlockOnce:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            "parity_block_once",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
            result_type=int,
        )


async def worker_shutdown_cancels_activities(client: Client, task_queue: str) -> None:
    """temporalio's `graceful_shutdown_timeout` (default 0): a worker leaving its `async with`
    cancels its running activities, which fail retryably, so another worker runs them. It used to
    wait forever for an activity that never ends on its own."""
    queue = f"{task_queue}-shutdown-{uuid.uuid4().hex[:6]}"
    first = _Blocking()
    worker = Worker(client, task_queue=queue, workflows=[BlockOnce], activities=[first.block_once])
    await worker.start()
    handle = await client.start_workflow(BlockOnce.run, id=f"shutdown-{uuid.uuid4()}", task_queue=queue)
    await asyncio.wait_for(first.started.wait(), DEADLINE)
    await asyncio.wait_for(worker.shutdown(), DEADLINE)  # what `async with` does on exit
    assert first.seen == ["cancelled"]
    second = _Blocking()
    async with Worker(client, task_queue=queue, workflows=[BlockOnce], activities=[second.block_once]):
        assert await asyncio.wait_for(handle.result(), DEADLINE) == 2
    history = await handle.fetch_history()
    started = [e for e in history.events if e.event_type == "ActivityTaskStarted"]
    assert len(started) == 1 and started[0].attributes.attempt == 2  # type: ignore[union-attr]
    assert started[0].attributes.last_failure.type == "WorkerShutdown"  # type: ignore[union-attr]


async def execution_time_and_static_metadata(client: Client, task_queue: str) -> None:
    """`describe().execution_time` is the start time plus `start_delay` (Temporal's execution
    time); `static_summary` / `static_details` given at start come back from describe. Before,
    start_workflow refused both names and describe had no execution_time."""
    delay = timedelta(seconds=1)
    handle = await client.start_workflow(
        Leaf.run,
        id=f"metadata-{uuid.uuid4()}",
        task_queue=task_queue,
        start_delay=delay,
        static_summary="nightly report",
        static_details="for **ops**\nline 2",
    )
    desc = await handle.describe()
    assert desc.execution_time == desc.start_time + delay, (desc.start_time, desc.execution_time)
    assert await desc.static_summary() == "nightly report"
    assert await desc.static_details() == "for **ops**\nline 2"
    assert await asyncio.wait_for(handle.result(), DEADLINE) == handle.id
    plain = await client.start_workflow(Leaf.run, id=f"plain-{uuid.uuid4()}", task_queue=task_queue)
    plain_desc = await plain.describe()
    assert plain_desc.execution_time == plain_desc.start_time
    assert await plain_desc.static_summary() is None
    started = (await handle.fetch_history()).events[0].attributes
    assert started.first_workflow_task_backoff == delay  # type: ignore[union-attr]
    assert started.static_summary == "nightly report"  # type: ignore[union-attr]


@activity.defn(name="parity_priority_seen")
async def priority_seen() -> dict[str, Any]:
    info = activity.info()
    return {
        "priority": [info.priority.priority_key, info.priority.fairness_key, info.priority.fairness_weight],
        "retry_attempts": info.retry_policy.maximum_attempts if info.retry_policy else None,
        "namespace": info.namespace,
        "in_workflow": info.in_workflow,
        "started": info.started_time is not None,
    }


@workflow.defn
class PriorityReader:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        mine = workflow.info().priority
        seen = await workflow.execute_activity(
            priority_seen,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=4),
            priority=Priority(priority_key=1),  # overrides the key, inherits the fairness fields
        )
        return {"workflow": [mine.priority_key, mine.fairness_key, mine.fairness_weight], **seen}


async def priority_on_start_and_activities(client: Client, task_queue: str) -> None:
    """`Priority` on start reaches `workflow.info()`; an activity's own fields override the run's
    and the rest are inherited (Temporal's rule), visible in `activity.info()` with its retry
    policy, namespace and start time. Before, none of these names existed."""
    out = await client.execute_workflow(
        PriorityReader.run,
        id=f"priority-{uuid.uuid4()}",
        task_queue=task_queue,
        priority=Priority(priority_key=4, fairness_key="tenant-a", fairness_weight=2.5),
    )
    assert out == {
        "workflow": [4, "tenant-a", 2.5],
        "priority": [1, "tenant-a", 2.5],
        "retry_attempts": 4,
        "namespace": client.namespace,
        "in_workflow": True,
        "started": True,
    }, out


STAGE = SearchAttributeKey.for_keyword("ParityStage")
RANK = SearchAttributeKey.for_int("ParityRank")


@workflow.defn
class AttributeReader:
    @workflow.run
    async def run(self) -> list[Any]:
        before = workflow.info().typed_search_attributes
        workflow.upsert_search_attributes([STAGE.value_set("packing"), RANK.value_unset()])
        await workflow.sleep(0.01)  # a later task, and a replay of the first for a cold worker
        after = workflow.info().typed_search_attributes
        return [before.get(STAGE), before.get(RANK), after.get(STAGE), after.get(RANK)]


async def info_search_attributes(client: Client, task_queue: str) -> None:
    """`workflow.info().typed_search_attributes` shows the start's attributes and the run's own
    upserts at once, as temporalio's (before, the name did not exist)."""
    out = await client.execute_workflow(
        AttributeReader.run,
        id=f"info-attrs-{uuid.uuid4()}",
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(STAGE, "new"), SearchAttributePair(RANK, 7)]
        ),
    )
    assert out == ["new", 7, "packing", None], out


@workflow.defn
class ReasonReader:
    @workflow.run
    async def run(self) -> list[str | None]:
        before = workflow.cancellation_reason()
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            # A workflow-level cancel (not an inner task's): it may still complete.
            return [before, workflow.cancellation_reason()]
        return ["not cancelled"]


async def cancel_with_reason(client: Client, task_queue: str) -> None:
    """`handle.cancel(reason=...)` records the reason and the workflow reads it with
    `workflow.cancellation_reason()`, as temporalio's (before, neither name existed)."""
    handle = await client.start_workflow(ReasonReader.run, id=f"reason-{uuid.uuid4()}", task_queue=task_queue)
    await _wait_for_first_task(handle)
    await handle.cancel(reason="customer asked")
    assert await asyncio.wait_for(handle.result(), DEADLINE) == [None, "customer asked"]
    events = (await handle.fetch_history()).events
    (requested,) = [e for e in events if e.event_type == "WorkflowExecutionCancelRequested"]
    assert requested.attributes.cause == "customer asked"  # type: ignore[union-attr]


async def _wait_for_first_task(handle: Any) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while asyncio.get_running_loop().time() < deadline:
        types = [e.event_type for e in (await handle.fetch_history()).events]
        if "WorkflowTaskCompleted" in types:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the first workflow task never completed")


WORKFLOWS = [
    ReasonReader,
    AttributeReader,
    PriorityReader,
    CauseReader,
    FailingChild,
    Leaf,
    Middle,
    Top,
    HandlerWaiter,
    HistoryLength,
]
ACTIVITIES = [refuse, priority_seen]
