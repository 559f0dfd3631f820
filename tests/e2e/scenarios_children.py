"""Child workflows, continue-as-new and external workflow handles (docs/child-workflows.md): the
workflows and the scenario bodies, run embedded (test_children.py) and on the real stack."""

from __future__ import annotations

import uuid
from typing import Any

from tidal import workflow
from tidal.client import Client
from tidal.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
)
from tidal_schema import WorkflowExecutionStatus

from tests.support.stack import wait_for

TASK_QUEUE = "e2e-children"


@workflow.defn
class EchoChild:
    @workflow.run
    async def run(self, name: str) -> str:
        if name == "fail":
            raise ApplicationError("child failed on purpose", type="ChildBoom", non_retryable=True)
        info = workflow.info()
        assert info.parent is not None
        return f"{name} (child of {info.parent.workflow_id})"


@workflow.defn
class WaitingChild:
    """Waits for its `release` signal and returns its value; ends Canceled when cancelled."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.signal
    def release(self, value: str) -> None:
        self.value = value

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        return self.value


@workflow.defn
class CounterWorkflow:
    """Continues as new until n == 3; returns the sum of the n's of all runs."""

    @workflow.run
    async def run(self, n: int, total: int) -> dict[str, Any]:
        total += n
        if n < 3:
            workflow.continue_as_new(args=[n + 1, total])
        return {"total": total, "continued_from": workflow.info().continued_run_id}


@workflow.defn
class ParentWorkflow:
    @workflow.run
    async def run(self, mode: str) -> Any:
        me = workflow.info().workflow_id
        if mode == "result":
            return await workflow.execute_child_workflow(EchoChild.run, "Tidal", id=f"{me}-child")
        if mode == "fail":
            try:
                await workflow.execute_child_workflow(EchoChild.run, "fail", id=f"{me}-child")
            except ChildWorkflowError as e:
                cause = e.__cause__
                assert isinstance(cause, ApplicationError)
                return f"{type(e).__name__}: {cause.type}: {cause.message}"
            raise AssertionError("the child failed; its error must reach the parent")
        if mode == "duplicate":
            await workflow.start_child_workflow(WaitingChild.run, id=f"{me}-child")
            try:
                await workflow.start_child_workflow(WaitingChild.run, id=f"{me}-child-dup")
                await workflow.start_child_workflow(WaitingChild.run, id=f"{me}-child-dup")
            except WorkflowAlreadyStartedError as e:
                return f"already started: {e.workflow_id}"
            raise AssertionError("a second child with a running workflow id must not start")
        if mode == "signal-cancel":
            a = await workflow.start_child_workflow(WaitingChild.run, id=f"{me}-a")
            await a.signal(WaitingChild.release, "released by parent")
            got = await a
            b = await workflow.start_child_workflow(WaitingChild.run, id=f"{me}-b")
            b.cancel()
            try:
                await b
            except ChildWorkflowError as e:
                return [got, type(e.__cause__).__name__]
            raise AssertionError("a cancelled child must not return a result")
        if mode == "await-child":
            return await workflow.execute_child_workflow(WaitingChild.run, id=f"{me}-child")
        if mode == "continue":
            return await workflow.execute_child_workflow(CounterWorkflow.run, args=[1, 0], id=f"{me}-counter")
        if mode == "policies":
            for policy in ("TERMINATE", "REQUEST_CANCEL", "ABANDON"):
                await workflow.start_child_workflow(
                    WaitingChild.run,
                    id=f"{me}-{policy}",
                    parent_close_policy=workflow.ParentClosePolicy[policy],
                )
            return "started three children"
        raise ApplicationError(f"unknown mode {mode}", non_retryable=True)


@workflow.defn
class ExternalWorkflow:
    """Signals one workflow, cancels another, and signals one that does not exist."""

    @workflow.run
    async def run(self, signal_target: str, cancel_target: str) -> list[str]:
        out = []
        await workflow.get_external_workflow_handle(signal_target).signal("release", "from outside")
        out.append("signaled")
        try:
            await workflow.get_external_workflow_handle(f"missing-{signal_target}").signal("release", "x")
        except ApplicationError as e:
            out.append(f"missing: {e.type}")
        await workflow.get_external_workflow_handle_for(WaitingChild.run, cancel_target).cancel()
        out.append("cancel requested")
        return out


CHILD_WORKFLOWS = [EchoChild, WaitingChild, CounterWorkflow, ParentWorkflow, ExternalWorkflow]


async def _types(client: Client, workflow_id: str, run_id: str | None = None) -> list[str]:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [e.event_type for e in (await handle.fetch_history()).events]


async def _status(client: Client, workflow_id: str) -> WorkflowExecutionStatus:
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def child_result_and_failure(client: Client, task_queue: str) -> None:
    """A child's result reaches its parent; a failed child raises ChildWorkflowError there."""
    wf_id = f"parent-{uuid.uuid4()}"
    result = await client.execute_workflow(ParentWorkflow.run, "result", id=wf_id, task_queue=task_queue)
    assert result == f"Tidal (child of {wf_id})"
    types = await _types(client, wf_id)
    assert types[4:5] == ["StartChildWorkflowExecutionInitiated"], types
    assert "ChildWorkflowExecutionStarted" in types and "ChildWorkflowExecutionCompleted" in types
    assert types.index("ChildWorkflowExecutionStarted") < types.index("ChildWorkflowExecutionCompleted")
    history = (await client.get_workflow_handle(wf_id).fetch_history()).events
    done = next(e for e in history if e.event_type == "ChildWorkflowExecutionCompleted").attributes
    started = next(e for e in history if e.event_type == "ChildWorkflowExecutionStarted")
    assert done.initiated_event_id == 5 and done.started_event_id == started.event_id  # type: ignore[union-attr]
    child = (await client.get_workflow_handle(f"{wf_id}-child").fetch_history()).events
    first = child[0].attributes
    assert first.parent_workflow_id == wf_id  # type: ignore[union-attr]
    assert first.parent_run_id == (await client.get_workflow_handle(wf_id).describe()).run_id  # type: ignore[union-attr]

    wf_id = f"parent-{uuid.uuid4()}"
    result = await client.execute_workflow(ParentWorkflow.run, "fail", id=wf_id, task_queue=task_queue)
    assert result == "ChildWorkflowError: ChildBoom: child failed on purpose"
    assert "ChildWorkflowExecutionFailed" in await _types(client, wf_id)
    assert await _status(client, f"{wf_id}-child") is WorkflowExecutionStatus.FAILED

    wf_id = f"parent-{uuid.uuid4()}"
    result = await client.execute_workflow(ParentWorkflow.run, "duplicate", id=wf_id, task_queue=task_queue)
    assert result == f"already started: {wf_id}-child-dup"
    assert (await _types(client, wf_id)).count("StartChildWorkflowExecutionFailed") == 1


async def child_signal_and_cancel(client: Client, task_queue: str) -> None:
    """ChildWorkflowHandle.signal reaches the child; cancelling the handle cancels the child and the
    parent sees ChildWorkflowError caused by CancelledError."""
    wf_id = f"parent-{uuid.uuid4()}"
    result = await client.execute_workflow(
        ParentWorkflow.run, "signal-cancel", id=wf_id, task_queue=task_queue
    )
    assert result == ["released by parent", "CancelledError"]
    types = await _types(client, wf_id)
    assert (
        "SignalExternalWorkflowExecutionInitiated" in types and "ExternalWorkflowExecutionSignaled" in types
    )
    assert "RequestCancelExternalWorkflowExecutionInitiated" in types
    assert "ChildWorkflowExecutionCanceled" in types
    child_b = await _types(client, f"{wf_id}-b")
    assert "WorkflowExecutionCancelRequested" in child_b and child_b[-1] == "WorkflowExecutionCanceled"
    assert "WorkflowExecutionSignaled" in await _types(client, f"{wf_id}-a")

    # Cancelling a parent that awaits its child cancels the child; both end Canceled.
    wf_id = f"parent-{uuid.uuid4()}"
    handle = await client.start_workflow(ParentWorkflow.run, "await-child", id=wf_id, task_queue=task_queue)

    async def child_started() -> bool:
        return "ChildWorkflowExecutionStarted" in await _types(client, wf_id)

    await wait_for(child_started, timeout=60, what="the child to start")
    await handle.cancel()
    try:
        await handle.result()
    except WorkflowFailureError as e:
        assert isinstance(e.cause, CancelledError), e.cause
    else:
        raise AssertionError("a cancelled parent must not return a result")
    assert await _status(client, f"{wf_id}-child") is WorkflowExecutionStatus.CANCELED
    assert (await _types(client, wf_id))[-2:] == ["WorkflowTaskCompleted", "WorkflowExecutionCanceled"]


async def parent_close_policies(client: Client, task_queue: str) -> None:
    """When the parent completes: TERMINATE terminates its child, REQUEST_CANCEL cancels it,
    ABANDON leaves it running."""
    wf_id = f"parent-{uuid.uuid4()}"
    assert await client.execute_workflow(ParentWorkflow.run, "policies", id=wf_id, task_queue=task_queue) == (
        "started three children"
    )

    async def closed(child: str, status: WorkflowExecutionStatus) -> bool:
        return await _status(client, f"{wf_id}-{child}") is status

    S = WorkflowExecutionStatus
    await wait_for(lambda: closed("TERMINATE", S.TERMINATED), timeout=60, what="the TERMINATE child to end")
    await wait_for(lambda: closed("REQUEST_CANCEL", S.CANCELED), timeout=60, what="the REQUEST_CANCEL child")
    terminated = client.get_workflow_handle(f"{wf_id}-TERMINATE")
    try:
        await terminated.result()
    except Exception as e:
        assert isinstance(e.__cause__, TerminatedError), e
    else:
        raise AssertionError("a terminated child has no result")
    assert (await _types(client, f"{wf_id}-REQUEST_CANCEL")).count("WorkflowExecutionCancelRequested") == 1
    abandoned = client.get_workflow_handle(f"{wf_id}-ABANDON")
    assert (await abandoned.describe()).status is S.RUNNING
    await abandoned.signal(WaitingChild.release, "still here")
    assert await abandoned.result() == "still here"


async def continue_as_new_chain(client: Client, task_queue: str) -> None:
    """Each run closes ContinuedAsNew and the next starts with a fresh history; handle.result()
    follows the chain; a child that continues as new reports its last run's result."""
    wf_id = f"counter-{uuid.uuid4()}"
    handle = await client.start_workflow(CounterWorkflow.run, args=[1, 0], id=wf_id, task_queue=task_queue)
    first_run = handle.run_id
    result = await handle.result()
    assert result["total"] == 6 and result["continued_from"] not in (None, first_run)
    first = await _types(client, wf_id, first_run)
    assert first[-1] == "WorkflowExecutionContinuedAsNew" and "WorkflowExecutionCompleted" not in first
    desc = await client.get_workflow_handle(wf_id).describe()
    assert desc.status is WorkflowExecutionStatus.COMPLETED and desc.run_id != first_run
    last = (await client.get_workflow_handle(wf_id).fetch_history()).events
    assert [e.event_id for e in last][:2] == [1, 2]  # a fresh history
    started = last[0].attributes
    assert started.continued_execution_run_id == result["continued_from"]  # type: ignore[union-attr]
    assert started.first_execution_run_id == first_run  # type: ignore[union-attr]
    assert (await client.get_workflow_handle(wf_id, run_id=first_run).describe()).status is (
        WorkflowExecutionStatus.CONTINUED_AS_NEW
    )
    try:
        await client.get_workflow_handle(wf_id, run_id=first_run).result(follow_runs=False)
    except Exception:
        pass
    else:
        raise AssertionError("without follow_runs, a continued run has no result")

    wf_id = f"parent-{uuid.uuid4()}"
    result = await client.execute_workflow(ParentWorkflow.run, "continue", id=wf_id, task_queue=task_queue)
    assert result["total"] == 6
    assert "ChildWorkflowExecutionCompleted" in await _types(client, wf_id)


async def external_handles(client: Client, task_queue: str) -> None:
    """get_external_workflow_handle(id).signal()/.cancel() on workflows the client started; a
    signal to a missing workflow raises ApplicationError in the sender."""
    target = f"target-{uuid.uuid4()}"
    victim = f"victim-{uuid.uuid4()}"
    t = await client.start_workflow(WaitingChild.run, id=target, task_queue=task_queue)
    v = await client.start_workflow(WaitingChild.run, id=victim, task_queue=task_queue)
    wf_id = f"external-{uuid.uuid4()}"
    result = await client.execute_workflow(
        ExternalWorkflow.run, args=[target, victim], id=wf_id, task_queue=task_queue
    )
    assert result == ["signaled", "missing: ExternalWorkflowExecutionNotFound", "cancel requested"]
    assert await t.result() == "from outside"
    try:
        await v.result()
    except Exception as e:
        assert isinstance(e.__cause__, CancelledError), e
    else:
        raise AssertionError("the cancelled workflow must not return a result")
    types = await _types(client, wf_id)
    assert types.count("SignalExternalWorkflowExecutionInitiated") == 2
    assert types.count("ExternalWorkflowExecutionSignaled") == 1
    assert types.count("SignalExternalWorkflowExecutionFailed") == 1
    assert types.count("ExternalWorkflowExecutionCancelRequested") == 1
    assert (await _types(client, target)).count("WorkflowExecutionSignaled") == 1
