"""Fewer hops (docs/performance.md, "Hops and messages"): eager activities and sticky workflow
tasks go from history straight to the worker, and other workflow tasks straight to the task
queue's shared queue; run on the embedded server and on the real stack.

`dispatched()` returns matching's `tidal_matching_tasks_dispatched_total` summed by kind
(workflow, activity): in-process in the embedded mode, scraped from matching's /metrics on the
stack. The tests run history with `shared_queue_refresh_seconds` = `REFRESH_SECONDS`, so the only
workflow task matching carries is a task queue's first one that was not started eagerly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.worker import Worker
from tidal_schema.messages import WorkflowTask

from tests.support.stack import wait_for
from tests.support.workflows import GreetingWorkflow, greet

Dispatched = Callable[[], Awaitable[dict[str, float]]]

STUCK: dict[str, asyncio.Event] = {}

REFRESH_SECONDS = "3600"
"""TIDAL_SHARED_QUEUE_REFRESH_SECONDS for these tests: no refresh through matching during a test."""


async def eager_activity(client: Client, task_queue: str, dispatched: Dispatched) -> None:
    """With eager activities (the default) matching carries only the task queue's first workflow
    task; the activity and the second task go from history to the worker that completed the task,
    and ActivityTaskStarted names that worker. With `disable_eager_activity_execution` the activity
    goes through matching again (the next run's first workflow task does not: history puts it on
    the shared queue itself)."""
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]) as w:
        before = await dispatched()
        handle = await client.start_workflow(
            GreetingWorkflow.run, "eager", id=f"eager-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await handle.result() == "Hello, eager!"
        after = await dispatched()
        assert _delta(before, after) == {"workflow": 1, "activity": 0}
        assert _started_identity(await handle.fetch_history()) == w.identity
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[GreetingWorkflow],
        activities=[greet],
        disable_eager_activity_execution=True,
    ):
        before = await dispatched()
        handle = await client.start_workflow(
            GreetingWorkflow.run, "matched", id=f"not-eager-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await handle.result() == "Hello, matched!"
        after = await dispatched()
        assert _delta(before, after) == {"workflow": 0, "activity": 1}
        assert _started_identity(await handle.fetch_history()) == ""


async def eager_start(client: Client, task_queue: str, dispatched: Dispatched) -> None:
    """Eager workflow start: with a worker built with the same client on the task queue, the first
    workflow task comes back in the start's reply and matching carries nothing at all (the
    activity and the second task are eager and sticky); the history and the result are those of
    the usual path. A start from another client object (no worker of its own) or without the flag
    does not get the task in its reply: the task queue's first such task goes through matching,
    the next one straight to the shared queue."""
    other = Client(**client.config())  # the same connection, but no worker built with it
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]) as w:
        runs: dict[str, tuple[list[str], dict[str, int]]] = {}
        for label, starter, eager in (
            ("eager", client, True),
            ("usual", client, False),
            ("other client", other, True),
        ):
            before = await dispatched()
            taken = _workflow_tasks_taken(task_queue)
            handle = await starter.start_workflow(
                GreetingWorkflow.run,
                label,
                id=f"eager-start-{uuid.uuid4()}",
                task_queue=task_queue,
                request_eager_start=eager,
            )
            if label == "eager":
                # The granted task is the run's critical path: the worker has taken it before the
                # start returns, ahead of whatever the caller does next on the loop (the result's
                # long poll), not after it.
                assert _workflow_tasks_taken(task_queue) == taken + 1
            assert await handle.result() == f"Hello, {label}!"
            after = await dispatched()
            history = await handle.fetch_history()
            runs[label] = ([e.event_type for e in history.events], _delta(before, after))
            started = [e for e in history.events if e.event_type == "WorkflowTaskStarted"]
            assert [e.attributes.identity for e in started] == [w.identity] * 2  # type: ignore[union-attr]
    assert runs["eager"][1] == {"workflow": 0, "activity": 0}
    assert runs["usual"][1] == {"workflow": 1, "activity": 0}
    assert runs["other client"][1] == {"workflow": 0, "activity": 0}
    assert runs["eager"][0] == runs["usual"][0] == runs["other client"][0]


async def first_tasks_skip_matching(client: Client, task_queue: str, dispatched: Dispatched) -> None:
    """Workflows started one after another on a task queue a worker polls: matching carries the
    first one's first workflow task (it declares the queue and learns it for its backlog gauge),
    history puts the others' on the shared queue itself; every run completes on the worker."""
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]) as w:
        before = await dispatched()
        for i in range(3):
            handle = await client.start_workflow(
                GreetingWorkflow.run, f"direct {i}", id=f"direct-{uuid.uuid4()}", task_queue=task_queue
            )
            assert await handle.result() == f"Hello, direct {i}!"
            started = [
                e for e in (await handle.fetch_history()).events if e.event_type == "WorkflowTaskStarted"
            ]
            assert [e.attributes.identity for e in started] == [w.identity] * 2  # type: ignore[union-attr]
        assert _delta(before, await dispatched()) == {"workflow": 1, "activity": 0}


def _workflow_tasks_taken(task_queue: str) -> float:
    """First workflow tasks this process's workers have started on `task_queue` (the SDK observes
    each one's schedule-to-start as it takes it)."""
    got = REGISTRY.get_sample_value(
        "tidal_worker_task_schedule_to_start_seconds_count", {"task_queue": task_queue, "kind": "workflow"}
    )
    return got or 0.0


async def eager_start_falls_back(client: Client, task_queue: str, dispatched: Dispatched) -> None:
    """No free workflow task slot on the client's worker, or a workflow type it does not run: the
    start asks for nothing and the task goes through matching; the run completes either way. A
    start retried with its request id returns the same run without a second task (and runs once)."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[GreetingWorkflow],
        activities=[greet],
        max_concurrent_workflow_tasks=1,
    ) as w:
        assert w.reserve_eager_slot("NotRegistered") is False
        assert w.reserve_eager_slot("GreetingWorkflow") is True  # the only slot, held by the test
        before = await dispatched()
        busy = await client.start_workflow(
            GreetingWorkflow.run,
            "busy",
            id=f"eager-busy-{uuid.uuid4()}",
            task_queue=task_queue,
            request_eager_start=True,
        )
        # Not eager: the task goes through matching, which may count its dispatch a moment after the
        # start's reply (matching's consumer runs beside the reply on either bus).
        delta = await _settled_delta(before, dispatched, {"workflow": 1, "activity": 0})
        assert delta == {"workflow": 1, "activity": 0}
        w.release_eager_slot()
        assert await busy.result() == "Hello, busy!"

        request_id = str(uuid.uuid4())
        workflow_id = f"eager-twice-{uuid.uuid4()}"
        before = await dispatched()
        first = await client.start_workflow(
            GreetingWorkflow.run,
            "twice",
            id=workflow_id,
            task_queue=task_queue,
            request_eager_start=True,
            request_id=request_id,
        )
        again = await client.start_workflow(
            GreetingWorkflow.run,
            "twice",
            id=workflow_id,
            task_queue=task_queue,
            request_eager_start=True,
            request_id=request_id,
        )
        assert again.run_id == first.run_id
        assert await again.result() == "Hello, twice!"
        assert _delta(before, await dispatched()) == {"workflow": 0, "activity": 0}
        # Every slot comes back (the last task's slot once its worker coroutine finishes).
        await wait_for(lambda: w.reserve_eager_slot("GreetingWorkflow"), timeout=10, what="a free slot")
        w.release_eager_slot()
    types = [e.event_type for e in (await first.fetch_history()).events]
    assert types.count("WorkflowTaskScheduled") == 2 and types.count("WorkflowExecutionStarted") == 1


class _DiesHoldingEagerTasks(Worker):
    """A worker that takes an eager start's task and never runs it: the in-process twin of a
    worker process killed right after the start returned (tests/e2e/test_worker_crash.py kills
    a real one)."""

    def run_eager_task(self, task: WorkflowTask) -> None:
        self.dropped.append(task.run_id)
        self.release_eager_slot()

    dropped: list[str] = []


async def eager_task_never_run(client: Client, task_queue: str) -> None:
    """The eager first task is lost with its worker: the workflow task timeout records
    WorkflowTaskTimedOut and hands attempt 2 out through matching; the run completes."""
    async with _DiesHoldingEagerTasks(
        client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]
    ) as w:
        w.dropped = []
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            "late",
            id=f"eager-lost-{uuid.uuid4()}",
            task_queue=task_queue,
            request_eager_start=True,
            task_timeout=timedelta(seconds=1),
        )
        assert w.dropped == [handle.run_id]
        assert await handle.result() == "Hello, late!"
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types[:5] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
        "WorkflowTaskScheduled",
    ]
    assert types[-1] == "WorkflowExecutionCompleted"


@activity.defn
async def stuck_on_first_attempt(key: str) -> str:
    attempt = activity.info().attempt
    if attempt == 1:
        STUCK[key] = asyncio.Event()
        await STUCK[key].wait()  # the attempt a dead worker would hold: never reported
    return f"done on attempt {attempt}"


@workflow.defn
class EagerRetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            stuck_on_first_attempt,
            key,
            start_to_close_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


async def eager_attempt_never_reported(client: Client, task_queue: str) -> None:
    """An eager attempt whose worker never reports it (the embedded twin of a worker killed
    after receiving it; tests/e2e/test_worker_crash.py kills a real one): the start-to-close
    timeout retries it, through matching, and the run completes."""
    key = f"stuck-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[EagerRetryWorkflow], activities=[stuck_on_first_attempt]
    ):
        handle = await client.start_workflow(EagerRetryWorkflow.run, key, id=key, task_queue=task_queue)
        assert await handle.result() == "done on attempt 2"
        STUCK[key].set()
    events = (await handle.fetch_history()).events
    types = [e.event_type for e in events]
    assert types.count("ActivityTaskScheduled") == 1 and types.count("ActivityTaskCompleted") == 1
    (started,) = [e for e in events if e.event_type == "ActivityTaskStarted"]
    assert started.attributes.attempt == 2  # type: ignore[union-attr]


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {k: int(after.get(k, 0) - before.get(k, 0)) for k in ("workflow", "activity")}


async def _settled_delta(
    before: dict[str, float], dispatched: Dispatched, expected: dict[str, int], timeout: float = 10.0
) -> dict[str, int]:
    """The dispatch delta once it equals `expected`, or what it is at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        delta = _delta(before, await dispatched())
        if delta == expected or asyncio.get_running_loop().time() > deadline:
            return delta
        await asyncio.sleep(0.02)


def _started_identity(history: object) -> str:
    (started,) = [e for e in history.events if e.event_type == "ActivityTaskStarted"]  # type: ignore[attr-defined]
    return str(started.attributes.identity)


@workflow.defn
class BigResultWorkflow:
    @workflow.run
    async def run(self, size: int) -> str:
        return "x" * size


async def result_over_the_notification_limit(client: Client, task_queue: str) -> None:
    """A result too big for the close notification (limits.NOTIFY_OUTCOME_MAX_BYTES) is left out
    of it; the frontend reads it from the database and `result()` still gets it. A small one
    comes in the notification."""
    from tidal_schema.limits import NOTIFY_OUTCOME_MAX_BYTES

    async with Worker(client, task_queue=task_queue, workflows=[BigResultWorkflow]):
        for size in (10, NOTIFY_OUTCOME_MAX_BYTES * 2):
            handle = await client.start_workflow(
                BigResultWorkflow.run, size, id=f"big-{size}-{uuid.uuid4()}", task_queue=task_queue
            )
            assert await handle.result() == "x" * size
