"""Signal-with-start scenarios (embedded and real stack), and the workflow the command tests use."""

from __future__ import annotations

import uuid

from tidal import workflow
from tidal.client import Client
from tidal_schema import WorkflowExecutionStatus

TASK_QUEUE = "e2e-commands"


@workflow.defn
class ApprovalWorkflow:
    """Completes once `needed` approvals arrived; reports what it saw in its first activation."""

    def __init__(self) -> None:
        self.approvals: list[str] = []

    @workflow.run
    async def run(self, order: str, needed: int = 1) -> str:
        await workflow.wait_condition(lambda: len(self.approvals) >= needed)
        return f"{order} approved by {','.join(self.approvals)}"

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approvals.append(who)


WORKFLOWS = [ApprovalWorkflow]


async def _event_types(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.event_type for e in history.events]


async def signal_with_start_new_run(client: Client, task_queue: str) -> None:
    """No run yet: one transaction writes Started, Signaled, then the first WorkflowTaskScheduled,
    so the first workflow task already sees the signal."""
    wf_id = f"sws-new-{uuid.uuid4()}"
    handle = await client.start_workflow(
        ApprovalWorkflow.run,
        "order-1",
        id=wf_id,
        task_queue=task_queue,
        start_signal=ApprovalWorkflow.approve,
        start_signal_args=["alice"],
    )
    assert await handle.result() == "order-1 approved by alice"
    types = await _event_types(client, wf_id)
    assert types[:3] == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled", "WorkflowTaskScheduled"]
    assert types.index("WorkflowExecutionSignaled") < types.index("WorkflowTaskCompleted")
    # Nothing waited on a timer or a second task: the signal was there for the first one.
    assert types.count("WorkflowTaskCompleted") == 1 and types[-1] == "WorkflowExecutionCompleted"


async def signal_with_start_running_run(client: Client, task_queue: str) -> None:
    """A running run is only signalled (same run id, no second start), and a retried
    signal-with-start with the same request id is applied once."""
    wf_id = f"sws-running-{uuid.uuid4()}"
    first = await client.start_workflow(
        ApprovalWorkflow.run, args=["order-2", 2], id=wf_id, task_queue=task_queue
    )
    again = await client.start_workflow(
        ApprovalWorkflow.run,
        args=["order-2", 2],
        id=wf_id,
        task_queue=task_queue,
        start_signal="approve",
        start_signal_args=["bob"],
        request_id="sws-bob",
    )
    assert again.run_id == first.run_id
    retry = await client.start_workflow(
        ApprovalWorkflow.run,
        args=["order-2", 2],
        id=wf_id,
        task_queue=task_queue,
        start_signal="approve",
        start_signal_args=["bob"],
        request_id="sws-bob",
    )
    assert retry.run_id == first.run_id
    await client.start_workflow(
        ApprovalWorkflow.run,
        args=["order-2", 2],
        id=wf_id,
        task_queue=task_queue,
        start_signal="approve",
        start_signal_args=["carol"],
    )
    assert await first.result() == "order-2 approved by bob,carol"
    types = await _event_types(client, wf_id)
    assert types.count("WorkflowExecutionStarted") == 1
    assert types.count("WorkflowExecutionSignaled") == 2
    assert (await first.describe()).status is WorkflowExecutionStatus.COMPLETED
