"""Child workflows, external requests and continue-as-new as pure transitions: what each side
writes and sends, and that every redelivery is harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidal_history.api import (
    child_workflow_closed,
    child_workflow_started,
    complete_workflow_task,
    signal_external_workflow,
    start_child_workflow,
    start_workflow,
)
from tidal_history.api.continue_as_new import successor_run_id
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.state import MutableState, ParentInfo
from tidal_schema import (
    HistoryEvent,
    Payload,
    RetryPolicy,
    WorkflowExecutionStatus,
    WorkflowIdReusePolicy,
    events,
)
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ChildWorkflowClosed,
    ChildWorkflowStarted,
    CompleteWorkflowTask,
    ExternalWorkflowResult,
    ParentRef,
    SignalExternalWorkflowExecution,
    StartChildWorkflowExecution,
    StartChildWorkflowFailed,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = WorkflowExecutionStatus


def _types(o: Outcome) -> list[str]:
    return [e.event_type for e in o.events]


def _sent(o: Outcome, kind: type) -> list:  # type: ignore[type-arg]
    return [x for x in o.outbox if isinstance(x.message, kind)]


def _run(workflow_id: str, run_id: str) -> tuple[MutableState, list[HistoryEvent]]:
    msg = StartWorkflowExecution(workflow_id=workflow_id, workflow_type="T", task_queue="q", request_id="r")
    o = start_workflow.handle(OperationContext(now=T0, current=None, new_run_id=run_id, shard_id=1), msg)
    assert o.state is not None
    return o.state, list(o.events)


def _complete(state: MutableState, history: list[HistoryEvent], *commands: cmd.Command) -> Outcome:
    assert state.workflow_task is not None
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=1), state=state, history=history),
        CompleteWorkflowTask(
            workflow_id=state.workflow_id,
            run_id=state.run_id,
            scheduled_event_id=state.workflow_task.scheduled_event_id,
            commands=commands,
            sticky_queue="tidal.sticky.worker-1",  # later tasks count as started at dispatch
        ),
    )
    history += o.events
    return o


def _child_command(policy: str = "Terminate") -> cmd.StartChildWorkflowExecution:
    return cmd.StartChildWorkflowExecution(
        namespace="default",
        workflow_id="kid",
        workflow_type="Kid",
        task_queue="q",
        parent_close_policy=policy,
    )


def test_start_child_is_initiated_and_sent_to_the_childs_shard() -> None:
    parent, history = _run("mom", "p1")
    o = _complete(parent, history, _child_command())
    assert _types(o) == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "StartChildWorkflowExecutionInitiated",
    ]
    (out,) = _sent(o, StartChildWorkflowExecution)
    assert out.to_workflow == ("default", "kid") and out.routing_key == ""  # routed by the processor
    assert out.message.request_id == "p1/5" and out.message.parent.initiated_event_id == 5
    assert parent.children[5].workflow_id == "kid"


def test_child_start_options_reach_the_childs_start() -> None:
    parent, history = _run("mom", "p1")
    policy = RetryPolicy(maximum_attempts=3)
    c = _child_command().model_copy(
        update={
            "id_reuse_policy": WorkflowIdReusePolicy.REJECT_DUPLICATE,
            "retry_policy": policy,
            "memo": {"k": Payload(data="v")},
            "search_attributes": {"CustomerId": "c-1"},
            "static_summary": "sum",
            "static_details": "details",
        }
    )
    o = _complete(parent, history, c)
    initiated = o.events[-1].attributes
    assert isinstance(initiated, events.StartChildWorkflowExecutionInitiated)
    assert (initiated.id_reuse_policy, initiated.memo, initiated.static_summary) == (
        "RejectDuplicate",
        {"k": Payload(data="v")},
        "sum",
    )
    (out,) = _sent(o, StartChildWorkflowExecution)
    child = start_child_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="k1", shard_id=2), out.message
    )
    started = child.events[0].attributes
    assert isinstance(started, events.WorkflowExecutionStarted)
    assert started.retry_policy == policy and started.memo == {"k": Payload(data="v")}
    assert started.search_attributes == {"CustomerId": "c-1"}
    assert (started.static_summary, started.static_details) == ("sum", "details")
    # REJECT_DUPLICATE: a closed run of the id refuses the start.
    closed = start_workflow.CurrentRun(run_id="k0", status=S.COMPLETED, start_request_id="other")
    refused = start_child_workflow.handle(
        OperationContext(now=T0, current=closed, new_run_id="k2", shard_id=2), out.message
    )
    assert not refused.changed and _sent(refused, StartChildWorkflowFailed)


def test_a_child_start_with_a_bad_search_attribute_fails_the_parents_task() -> None:
    parent, history = _run("mom", "p1")
    c = _child_command().model_copy(update={"search_attributes": {"WorkflowType": "x"}})
    o = _complete(parent, history, c)
    # Refused before the child's shard sees it (before, the child's start carried it there).
    assert _types(o) == ["WorkflowTaskStarted", "WorkflowTaskFailed", "WorkflowTaskScheduled"]
    failed = o.events[1].attributes
    assert isinstance(failed, events.WorkflowTaskFailed) and failed.cause == "BadCommandAttributes"
    assert not _sent(o, StartChildWorkflowExecution) and not parent.children


def test_child_start_answers_the_parent_and_is_idempotent() -> None:
    msg = StartChildWorkflowExecution(
        workflow_id="kid",
        workflow_type="Kid",
        task_queue="q",
        request_id="p1/5",
        parent=ParentRef(workflow_id="mom", run_id="p1", initiated_event_id=5),
    )
    o = start_child_workflow.handle(OperationContext(now=T0, current=None, new_run_id="k1", shard_id=2), msg)
    assert o.changed and o.reply is None and o.state is not None
    assert o.state.parent is not None and o.state.parent.run_id == "p1"
    started = o.events[0].attributes
    assert started.parent_workflow_id == "mom" and started.parent_run_id == "p1"  # type: ignore[union-attr]
    (answer,) = _sent(o, ChildWorkflowStarted)
    assert answer.to_workflow == ("default", "mom") and answer.message.child_run_id == "k1"
    # Redelivered: the same child run is reported again, nothing is written.
    current = start_workflow.CurrentRun(run_id="k1", status=S.RUNNING, start_request_id="p1/5")
    again = start_child_workflow.handle(
        OperationContext(now=T0, current=current, new_run_id="k2", shard_id=2), msg
    )
    assert not again.changed and _sent(again, ChildWorkflowStarted)[0].message.child_run_id == "k1"
    # Another parent's child with a running workflow id: refused.
    other = msg.model_copy(update={"request_id": "p9/5"})
    refused = start_child_workflow.handle(
        OperationContext(now=T0, current=current, new_run_id="k3", shard_id=2), other
    )
    assert not refused.changed and _sent(refused, StartChildWorkflowFailed)


def test_parent_records_child_started_and_closed_once() -> None:
    parent, history = _run("mom", "p1")
    _complete(parent, history, _child_command())
    started = ChildWorkflowStarted(
        workflow_id="mom",
        run_id="p1",
        initiated_event_id=5,
        child_workflow_id="kid",
        child_run_id="k1",
        workflow_type="Kid",
    )
    o = child_workflow_started.handle(OperationContext(now=T0, state=parent, history=history), started)
    history += o.events
    assert _types(o) == ["ChildWorkflowExecutionStarted", "WorkflowTaskScheduled"]
    assert not child_workflow_started.handle(
        OperationContext(now=T0, state=parent, history=history), started
    ).changed
    closed = ChildWorkflowClosed(
        workflow_id="mom",
        run_id="p1",
        initiated_event_id=5,
        child_workflow_id="kid",
        child_run_id="k1",
        workflow_type="Kid",
        status=S.COMPLETED,
        result=(Payload(data=42),),
    )
    o = child_workflow_closed.handle(OperationContext(now=T0, state=parent, history=history), closed)
    # A workflow task is outstanding: the outcome is buffered until it completes.
    assert o.changed and not o.events and len(parent.buffered_events) == 1
    assert not child_workflow_closed.handle(
        OperationContext(now=T0, state=parent, history=history), closed
    ).changed
    o = _complete(parent, history)
    done = o.events[2]
    assert done.event_type == "ChildWorkflowExecutionCompleted"
    assert done.attributes.started_event_id == 6  # type: ignore[union-attr]


def test_close_overtaking_start_records_both() -> None:
    parent, history = _run("mom", "p1")
    _complete(parent, history, _child_command())
    closed = ChildWorkflowClosed(
        workflow_id="mom",
        run_id="p1",
        initiated_event_id=5,
        child_workflow_id="kid",
        child_run_id="k1",
        workflow_type="Kid",
        status=S.FAILED,
    )
    o = child_workflow_closed.handle(OperationContext(now=T0, state=parent, history=history), closed)
    assert _types(o) == [
        "ChildWorkflowExecutionStarted",
        "ChildWorkflowExecutionFailed",
        "WorkflowTaskScheduled",
    ]
    assert o.events[1].attributes.started_event_id == o.events[0].event_id  # type: ignore[union-attr]


def test_closing_child_notifies_parent_and_parent_close_policy_applies() -> None:
    child, history = _run("kid", "k1")
    child.parent = ParentInfo(namespace="default", workflow_id="mom", run_id="p1", initiated_event_id=5)
    o = _complete(child, history, cmd.CompleteWorkflowExecution(result=(Payload(data=1),)))
    (note,) = _sent(o, ChildWorkflowClosed)
    assert note.to_workflow == ("default", "mom") and note.message.status is S.COMPLETED

    parent, history = _run("mom", "p1")
    abandoned = _child_command("Abandon").model_copy(update={"workflow_id": "free"})
    o = _complete(parent, history, _child_command("Terminate"), abandoned, cmd.CompleteWorkflowExecution())
    (term,) = _sent(o, TerminateWorkflowExecution)
    assert term.to_workflow == ("default", "kid") and term.message.run_id is None
    to_free = [x.message for x in o.outbox if x.to_workflow == ("default", "free")]
    assert [type(x) for x in to_free] == [StartChildWorkflowExecution]  # the start only: abandoned


def test_continue_as_new_closes_the_run_and_starts_its_successor_in_one_outcome() -> None:
    state, history = _run("loop", "r1")
    state.parent = ParentInfo(namespace="default", workflow_id="mom", run_id="p1", initiated_event_id=5)
    can = cmd.ContinueAsNewWorkflowExecution(workflow_type="T", task_queue="q", input=(Payload(data=2),))
    o = _complete(state, history, can)
    assert state.status is S.CONTINUED_AS_NEW and _types(o)[-1] == "WorkflowExecutionContinuedAsNew"
    assert not _sent(o, ChildWorkflowClosed)  # the successor still owes the parent its result
    new = o.successor
    assert new is not None and new.state is not None and new.is_new_run
    assert (
        new.state.run_id
        == successor_run_id("default", "loop", "r1")
        == o.events[-1].attributes.new_execution_run_id
    )  # type: ignore[union-attr]
    assert _types(new) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    started = new.events[0].attributes
    assert started.continued_execution_run_id == "r1" and started.first_execution_run_id == "r1"  # type: ignore[union-attr]
    assert new.state.parent is not None and new.state.parent.run_id == "p1"
    assert new.state.start_request_id == state.start_request_id  # a redelivered start finds the chain


def test_signal_to_a_missing_workflow_answers_the_sender_without_a_write() -> None:
    msg = SignalExternalWorkflowExecution(
        workflow_id="nobody",
        signal_name="s",
        request_id="p1/5",
        source=ParentRef(workflow_id="mom", run_id="p1", initiated_event_id=5),
    )
    o = signal_external_workflow.handle(OperationContext(now=T0, state=None, history=[]), msg)
    assert not o.changed and o.reply is None
    (answer,) = _sent(o, ExternalWorkflowResult)
    assert answer.message.failed_cause == "ExternalWorkflowExecutionNotFound" and answer.to_workflow == (
        "default",
        "mom",
    )


def test_commands_that_reach_another_namespace_fail_the_workflow_task() -> None:
    """Issue 9 (#10): a child start, external signal or external cancel in another namespace is
    refused like a bad command: WorkflowTaskFailed with the cause, nothing sent anywhere."""
    other = dict(namespace="other", workflow_id="victim")
    for command in (
        cmd.StartChildWorkflowExecution(**other, workflow_type="Kid", task_queue="q"),
        cmd.SignalExternalWorkflowExecution(**other, signal_name="s"),
        cmd.RequestCancelExternalWorkflowExecution(**other),
    ):
        state, history = _run("p", "run-p")
        o = _complete(state, history, command)
        assert _types(o)[:2] == ["WorkflowTaskStarted", "WorkflowTaskFailed"], type(command).__name__
        assert not [t for t in _types(o) if "Initiated" in t]
        failed = o.events[1].attributes
        assert failed.cause == "BadCommandAttributes"
        assert "namespace 'other' is not this workflow's namespace 'default'" in failed.failure.message
        assert not [x for x in o.outbox if getattr(x.message, "namespace", None) == "other"]
        assert not state.children and not state.external_requests
    # The workflow's own namespace, spelt out or left empty, is fine.
    state, history = _run("p", "run-p")
    o = _complete(
        state,
        history,
        cmd.SignalExternalWorkflowExecution(namespace="default", workflow_id="w", signal_name="s"),
    )
    assert "SignalExternalWorkflowExecutionInitiated" in _types(o)
