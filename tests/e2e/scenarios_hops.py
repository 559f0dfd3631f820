"""Fewer hops (docs/performance.md, "Hops and messages"): eager activities and sticky workflow
tasks go from history straight to the worker; run on the embedded server and on the real stack.

`dispatched()` returns matching's `tidal_matching_tasks_dispatched_total` summed by kind
(workflow, activity): in-process in the embedded mode, scraped from matching's /metrics on the
stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.worker import Worker

from tests.support.workflows import GreetingWorkflow, greet

Dispatched = Callable[[], Awaitable[dict[str, float]]]

STUCK: dict[str, asyncio.Event] = {}


async def eager_activity(client: Client, task_queue: str, dispatched: Dispatched) -> None:
    """With eager activities (the default) matching carries only the first workflow task; the
    activity and the second task go from history to the worker that completed the task, and
    ActivityTaskStarted names that worker. With `disable_eager_activity_execution` the activity
    goes through matching again."""
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
        assert _delta(before, after) == {"workflow": 1, "activity": 1}
        assert _started_identity(await handle.fetch_history()) == ""


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
