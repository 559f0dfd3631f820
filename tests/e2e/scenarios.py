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
