"""The end-to-end scenarios, run against the embedded server and against the real stack."""

from __future__ import annotations

import uuid

from tidal.client import Client
from tidal_schema import WorkflowExecutionStatus

from tests.support.workflows import ATTEMPTS, GreetingWorkflow, RetryWorkflow, TimerWorkflow


def _contiguous(events: list) -> bool:  # type: ignore[type-arg]
    return [e.event_id for e in events] == list(range(1, len(events) + 1))


async def one_activity(client: Client, task_queue: str) -> None:
    wf_id = f"greet-{uuid.uuid4()}"
    handle = await client.start_workflow(GreetingWorkflow.run, "Tidal", id=wf_id, task_queue=task_queue)
    assert await handle.result() == "Hello, Tidal!"
    history = (await handle.fetch_history()).events
    assert _contiguous(list(history))
    types = [e.event_type for e in history]
    assert types == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    desc = await handle.describe()
    assert desc.status is WorkflowExecutionStatus.COMPLETED and desc.workflow_type == "GreetingWorkflow"
    assert ATTEMPTS[f"greet:{wf_id}"] == 1


async def one_second_timer(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        TimerWorkflow.run, 1.0, id=f"timer-{uuid.uuid4()}", task_queue=task_queue
    )
    elapsed = await handle.result()
    assert elapsed >= 1.0
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count("TimerStarted") == 2 and types.count("TimerFired") == 2
    assert types[-1] == "WorkflowExecutionCompleted"


async def retry_then_succeed(client: Client, task_queue: str) -> None:
    key = f"flaky-{uuid.uuid4()}"
    handle = await client.start_workflow(RetryWorkflow.run, key, id=key, task_queue=task_queue)
    assert await handle.result() == "succeeded on attempt 3"
    history = (await handle.fetch_history()).events
    started = [e for e in history if e.event_type == "ActivityTaskStarted"]
    # Retries write no events: one ActivityTaskStarted, carrying the final attempt number.
    assert len(started) == 1 and started[0].attributes.attempt == 3  # type: ignore[union-attr]
    assert ATTEMPTS[key] == 3


async def sticky_fallback(client: Client, task_queue: str) -> None:
    """The worker that has the run cached leaves while the run waits on a timer; its sticky queue
    goes with it, so matching must hand the next task to the shared queue at once (no workflow
    task timeout in history), and another worker replays the run from its history."""
    from tidal.worker import Worker

    from tests.support.stack import wait_for
    from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS

    handle = await client.start_workflow(
        TimerWorkflow.run, 1.0, id=f"sticky-{uuid.uuid4()}", task_queue=task_queue
    )
    first = Worker(client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES)
    await first.start()

    async def timer_started() -> bool:
        return any(e.event_type == "TimerStarted" for e in (await handle.fetch_history()).events)

    await wait_for(timer_started, timeout=30, what="the first timer to start")
    await first.shutdown()
    async with Worker(client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        assert await handle.result() >= 1.0
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert "WorkflowTaskTimedOut" not in types and types[-1] == "WorkflowExecutionCompleted"


async def cancel_with_cleanup(client: Client, task_queue: str) -> None:
    """handle.cancel(): the workflow sees CancelledError, runs a cleanup activity, ends Canceled."""
    from tidal.exceptions import CancelledError, WorkflowFailureError

    from tests.support.stack import wait_for
    from tests.support.workflows import CancellableWorkflow

    wf_id = f"cancel-{uuid.uuid4()}"
    handle = await client.start_workflow(CancellableWorkflow.run, "order-7", id=wf_id, task_queue=task_queue)

    async def waiting() -> bool:
        return any(e.event_type == "TimerStarted" for e in (await handle.fetch_history()).events)

    await wait_for(waiting, timeout=30, what="the workflow to wait on its timer")
    await handle.cancel()
    await handle.cancel()  # asking twice is answered, and recorded once
    try:
        await handle.result()
    except WorkflowFailureError as exc:
        assert isinstance(exc.cause, CancelledError)
    else:
        raise AssertionError("a cancelled workflow must not return a result")
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count("WorkflowExecutionCancelRequested") == 1
    assert "TimerCanceled" in types and "ActivityTaskCompleted" in types
    assert types[-1] == "WorkflowExecutionCanceled"
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    assert ATTEMPTS[f"greet:{wf_id}"] == 1  # the cleanup activity ran once
