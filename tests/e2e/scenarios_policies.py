"""Workflow-level policies, shared by the embedded and the real-stack tests: the workflow retry
policy, id conflict and reuse policies, memo."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from tidal import workflow
from tidal.client import Client, WorkflowExecutionStatus
from tidal.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from tidal.exceptions import ApplicationError, WorkflowAlreadyStartedError, WorkflowFailureError

TASK_QUEUE = "policies"


@workflow.defn
class FailsUntil:
    """Fails (as a workflow, not a task) until attempt `succeed_on`."""

    @workflow.run
    async def run(self, succeed_on: int, non_retryable: bool = False) -> str:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} failed", non_retryable=non_retryable)
        return f"succeeded on attempt {attempt}"


@workflow.defn
class Parked:
    """Runs until signalled; returns its argument (and its memo's owner, if any)."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, value: str) -> str:
        await workflow.wait_condition(lambda: self.done)
        owner = workflow.memo_value("owner", None, type_hint=str)
        return value if owner is None else f"{value} (owner {owner}, memo {workflow.memo()})"

    @workflow.signal
    def finish(self) -> None:
        self.done = True


WORKFLOWS = [FailsUntil, Parked]
FAST = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5)


async def workflow_retry_policy(client: Client) -> None:
    wid = f"retry-{uuid.uuid4()}"
    handle = await client.start_workflow(
        FailsUntil.run, args=[3], id=wid, task_queue=TASK_QUEUE, retry_policy=FAST
    )
    assert await handle.result() == "succeeded on attempt 3"
    # The first run closed Failed and named its successor; the last run is the current one.
    first = await client.get_workflow_handle(wid, run_id=handle.run_id).fetch_history()
    assert first.events[-1].event_type == "WorkflowExecutionFailed"
    assert first.events[-1].attributes.new_execution_run_id  # type: ignore[union-attr]
    current = await client.get_workflow_handle(wid).describe()
    assert current.status is WorkflowExecutionStatus.COMPLETED and current.run_id != handle.run_id
    last = await client.get_workflow_handle(wid).fetch_history()
    started = last.events[0].attributes
    assert started.attempt == 3 and started.first_execution_run_id == handle.run_id  # type: ignore[union-attr]

    # Non-retryable failures and exhausted attempts end the chain with the failure.
    nr = await client.start_workflow(
        FailsUntil.run, args=[3, True], id=f"retry-{uuid.uuid4()}", task_queue=TASK_QUEUE, retry_policy=FAST
    )
    with pytest.raises(WorkflowFailureError) as nr_info:
        await nr.result()
    assert "attempt 1 failed" in str(nr_info.value.cause)  # no second attempt
    capped = await client.start_workflow(
        FailsUntil.run,
        args=[10],
        id=f"retry-{uuid.uuid4()}",
        task_queue=TASK_QUEUE,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=2),
    )
    with pytest.raises(WorkflowFailureError) as info:
        await capped.result()
    assert "attempt 2 failed" in str(info.value.cause)


async def conflict_and_reuse_policies(client: Client) -> None:
    wid = f"policy-{uuid.uuid4()}"
    first = await client.start_workflow(Parked.run, "first", id=wid, task_queue=TASK_QUEUE)
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(Parked.run, "again", id=wid, task_queue=TASK_QUEUE)
    same = await client.start_workflow(
        Parked.run,
        "x",
        id=wid,
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert same.run_id == first.run_id

    # TERMINATE_EXISTING: the running run is terminated and a new one starts, in one step.
    second = await client.start_workflow(
        Parked.run,
        "second",
        id=wid,
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    assert second.run_id != first.run_id
    old = await client.get_workflow_handle(wid, run_id=first.run_id).describe()
    assert old.status is WorkflowExecutionStatus.TERMINATED
    await second.signal(Parked.finish)
    assert await second.result() == "second"

    # Reuse policies apply to a closed workflow id.
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(
            Parked.run,
            "r",
            id=wid,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    with pytest.raises(WorkflowAlreadyStartedError):  # the last run completed, not failed
        await client.start_workflow(
            Parked.run,
            "r",
            id=wid,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    third = await client.start_workflow(
        Parked.run, "third", id=wid, task_queue=TASK_QUEUE, memo={"owner": "ops"}
    )
    assert (await third.describe()).raw["memo"]["owner"]["data"] == "ops"
    await third.signal(Parked.finish)
    assert await third.result() == "third (owner ops, memo {'owner': 'ops'})"
    third = await client.start_workflow(Parked.run, "again", id=wid, task_queue=TASK_QUEUE)
    # TERMINATE_IF_RUNNING, the reuse-policy spelling of the same thing.
    fourth = await client.start_workflow(
        Parked.run,
        "fourth",
        id=wid,
        task_queue=TASK_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.TERMINATE_IF_RUNNING,
    )
    assert (await client.get_workflow_handle(wid, run_id=third.run_id).describe()).status is (
        WorkflowExecutionStatus.TERMINATED
    )
    await fourth.terminate("test over")
