"""Update-with-start (issue 11), as temporalio code writes it: a new run whose first workflow task
already carries the update; a running run updated with id_conflict_policy USE_EXISTING; a running
run refused otherwise; a retried request applied once. Run embedded and on the real stack by
tests/e2e/test_update_with_start.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tidal import workflow
from tidal.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateStage
from tidal.common import WorkflowIDConflictPolicy
from tidal.exceptions import WorkflowAlreadyStartedError

TASK_QUEUE = "e2e-update-with-start"
DEADLINE = 60.0


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.total = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done and workflow.all_handlers_finished())
        return self.total

    @workflow.update
    def add(self, amount: int) -> int:
        self.total += amount
        return self.total

    @add.validator
    def check_add(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError("amount must be positive")

    @workflow.signal
    def checkout(self) -> None:
        self.done = True


def _op(workflow_id: str, policy: WorkflowIDConflictPolicy, **kw: object) -> WithStartWorkflowOperation[int]:
    return WithStartWorkflowOperation(
        Cart.run,
        id=workflow_id,
        task_queue=TASK_QUEUE,
        id_conflict_policy=policy,
        **kw,  # type: ignore[arg-type]
    )


async def new_run_carries_the_update(client: Client) -> None:
    wid = f"uws-new-{uuid.uuid4()}"
    op = _op(wid, WorkflowIDConflictPolicy.FAIL)
    total = await asyncio.wait_for(
        client.execute_update_with_start_workflow(Cart.add, 5, start_workflow_operation=op), DEADLINE
    )
    assert total == 5
    handle = await op.workflow_handle()
    assert handle.id == wid and handle.first_execution_run_id == handle.run_id
    await handle.signal(Cart.checkout)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 5
    types = [e.event_type for e in (await handle.fetch_history()).events]
    # Started and the first task in one transaction, and that very task accepted the update.
    assert types[:5] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionUpdateAccepted",
    ], types


async def running_run_with_use_existing(client: Client) -> None:
    wid = f"uws-existing-{uuid.uuid4()}"
    first = _op(wid, WorkflowIDConflictPolicy.USE_EXISTING)
    assert await client.execute_update_with_start_workflow(Cart.add, 2, start_workflow_operation=first) == 2
    second = _op(wid, WorkflowIDConflictPolicy.USE_EXISTING)
    update = await client.start_update_with_start_workflow(
        Cart.add, 3, start_workflow_operation=second, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    assert await asyncio.wait_for(update.result(), DEADLINE) == 5
    run = (await first.workflow_handle()).run_id
    assert (await second.workflow_handle()).run_id == run  # the same run, updated
    # Without USE_EXISTING a running workflow is refused, and the operation says so too.
    refused = _op(wid, WorkflowIDConflictPolicy.FAIL)
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.execute_update_with_start_workflow(Cart.add, 100, start_workflow_operation=refused)
    with pytest.raises(WorkflowAlreadyStartedError):
        await refused.workflow_handle()
    handle = client.get_workflow_handle(wid)
    await handle.signal(Cart.checkout)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 5


async def retry_is_applied_once(client: Client) -> None:
    """The same request id and update id sent twice (a client retry after a lost answer): one
    run, one update."""
    wid = f"uws-retry-{uuid.uuid4()}"
    request_id, update_id = str(uuid.uuid4()), str(uuid.uuid4())
    results = []
    for _ in range(2):
        op = _op(wid, WorkflowIDConflictPolicy.FAIL, request_id=request_id)
        results.append(
            await client.execute_update_with_start_workflow(
                Cart.add, 7, start_workflow_operation=op, id=update_id
            )
        )
    assert results == [7, 7]
    handle = client.get_workflow_handle(wid)
    await handle.signal(Cart.checkout)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 7
    history = (await handle.fetch_history()).events
    assert [e.event_type for e in history].count("WorkflowExecutionStarted") == 1
    assert [e.event_type for e in history].count("WorkflowExecutionUpdateAccepted") == 1


async def rejected_update_still_starts(client: Client) -> None:
    """As in Temporal: a rejected update fails the call, but the start stands."""
    wid = f"uws-rejected-{uuid.uuid4()}"
    op = _op(wid, WorkflowIDConflictPolicy.FAIL)
    with pytest.raises(WorkflowUpdateFailedError):
        await client.execute_update_with_start_workflow(Cart.add, -1, start_workflow_operation=op)
    handle = await op.workflow_handle()
    assert await handle.execute_update(Cart.add, 4) == 4
    await handle.signal(Cart.checkout)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 4


SCENARIOS = [
    new_run_carries_the_update,
    running_run_with_use_existing,
    retry_is_applied_once,
    rejected_update_still_starts,
]
WORKFLOWS = [Cart]
