"""The pure signal-with-start transition: start + signal in one outcome, or a plain signal."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import signal_with_start, start_workflow, terminate_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import CurrentRun, OperationContext
from tidal_schema import Payload, WorkflowExecutionStatus, WorkflowIdReusePolicy
from tidal_schema.messages import (
    AddWorkflowTask,
    ErrorReply,
    SignalWithStartWorkflowExecution,
    StartWorkflowExecution,
    StartWorkflowReply,
    TerminateWorkflowExecution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _sws(request_id: str = "sws-1", **extra: object) -> SignalWithStartWorkflowExecution:
    return SignalWithStartWorkflowExecution(
        workflow_id="w1",
        workflow_type="Order",
        task_queue="q",
        request_id=request_id,
        input=(Payload(data="o-1"),),
        signal_name="approve",
        signal_input=(Payload(data="yes"),),
        **extra,  # type: ignore[arg-type]
    )


def _types(o: Outcome) -> list[str]:
    return [e.event_type for e in o.events]


def _current(o: Outcome) -> CurrentRun:
    assert o.state is not None
    return CurrentRun(run_id=o.state.run_id, status=o.state.status, start_request_id=o.state.start_request_id)


def test_no_run_starts_one_with_the_signal_before_the_first_task() -> None:
    o = signal_with_start.handle(
        OperationContext(now=T0, current=None, state=None, history=[], new_run_id="run1", shard_id=2), _sws()
    )
    assert o.changed and o.is_new_run
    assert _types(o) == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled", "WorkflowTaskScheduled"]
    assert [e.event_id for e in o.events] == [1, 2, 3]
    signaled = o.events[1].attributes
    assert signaled.signal_name == "approve" and signaled.input == (Payload(data="yes"),)  # type: ignore[union-attr]
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1" and o.reply.started
    # The first workflow task carries both events.
    (add,) = [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    assert [e.event_type for e in add.task.events][:2] == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
    ]


def test_running_run_is_only_signalled_and_a_retry_is_deduplicated() -> None:
    start = StartWorkflowExecution(workflow_id="w1", workflow_type="Order", task_queue="q", request_id="s1")
    first = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run1", shard_id=0), start
    )
    assert first.state is not None
    state, history = first.state, list(first.events)
    o = signal_with_start.handle(
        OperationContext(
            now=T0, current=_current(first), state=state, history=history, new_run_id="x", shard_id=0
        ),
        _sws(),
    )
    assert o.changed and not o.is_new_run
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1" and not o.reply.started
    # The first workflow task waits in the shared queue: the signal is written before it starts
    # (as any signal), and the worker that takes the task gets it.
    assert [e.event_type for e in o.events] == ["WorkflowExecutionSignaled"] and not state.buffered_events
    history += o.events
    again = signal_with_start.handle(
        OperationContext(
            now=T0, current=_current(first), state=state, history=history, new_run_id="y", shard_id=0
        ),
        _sws(),
    )
    assert not again.changed and isinstance(again.reply, StartWorkflowReply) and again.reply.run_id == "run1"


def test_redelivery_after_starting_answers_the_same_run() -> None:
    o = signal_with_start.handle(
        OperationContext(now=T0, current=None, state=None, history=[], new_run_id="run1", shard_id=0), _sws()
    )
    assert o.state is not None
    # Even once the run has closed, the same request id names the run it started.
    o.state.status = WorkflowExecutionStatus.COMPLETED
    dup = signal_with_start.handle(
        OperationContext(
            now=T0, current=_current(o), state=o.state, history=list(o.events), new_run_id="x", shard_id=0
        ),
        _sws(),
    )
    assert not dup.changed and isinstance(dup.reply, StartWorkflowReply) and dup.reply.run_id == "run1"


def test_closed_run_starts_a_new_one_per_reuse_policy() -> None:
    o = signal_with_start.handle(
        OperationContext(now=T0, current=None, state=None, history=[], new_run_id="run1", shard_id=0), _sws()
    )
    assert o.state is not None
    done = terminate_workflow.handle(
        OperationContext(now=T0, state=o.state, history=list(o.events)),
        TerminateWorkflowExecution(workflow_id="w1", reason="test"),
    )
    assert done.state is not None and not done.state.is_running
    closed = _current(done)
    history = list(o.events) + list(done.events)
    again = signal_with_start.handle(
        OperationContext(
            now=T0 + timedelta(seconds=1),
            current=closed,
            state=done.state,
            history=history,
            new_run_id="run2",
            shard_id=0,
        ),
        _sws("sws-2"),
    )
    assert again.is_new_run and isinstance(again.reply, StartWorkflowReply) and again.reply.run_id == "run2"
    refused = signal_with_start.handle(
        OperationContext(
            now=T0, current=closed, state=done.state, history=history, new_run_id="run3", shard_id=0
        ),
        _sws("sws-3", id_reuse_policy=WorkflowIdReusePolicy.REJECT_DUPLICATE),
    )
    assert not refused.changed and isinstance(refused.reply, ErrorReply)
    assert refused.reply.code == "already_started"
