"""Update transitions: admission and dedup, speculative tasks that leave no trace when they only
reject, and that are written as the worker saw them otherwise."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_workflow_task, fire_timer, start_workflow, update_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.state import MutableState
from tidal_schema import Failure, HistoryEvent, Payload
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AckReply,
    AddWorkflowTask,
    CompleteWorkflowTask,
    ErrorReply,
    StartWorkflowExecution,
    TimerKind,
    UpdateWorkflowExecution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _running() -> tuple[MutableState, list[HistoryEvent]]:
    """A run whose first workflow task completed (events 1-4), nothing outstanding."""
    o = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run1", shard_id=0),
        StartWorkflowExecution(workflow_id="w1", workflow_type="Cart", task_queue="q", request_id="r1"),
    )
    assert o.state is not None
    history = list(o.events)
    done = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2, sticky_queue="sq"),
    )
    history += done.events
    assert o.state.workflow_task is None and o.state.next_event_id == 5
    return o.state, history


def _update(state: MutableState, history: list[HistoryEvent], uid: str, *, at: float = 1) -> Outcome:
    msg = UpdateWorkflowExecution(workflow_id="w1", update_id=uid, name="add", input=(Payload(data="x"),))
    return update_workflow.handle(
        OperationContext(now=T0 + timedelta(seconds=at), state=state, history=history), msg
    )


def _tasks(o: Outcome) -> list[AddWorkflowTask]:
    return [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]


def test_an_update_is_admitted_once_and_dispatched_in_a_speculative_task() -> None:
    state, history = _running()
    o = _update(state, history, "u1")
    assert o.events == [] and isinstance(o.reply, AckReply)
    (add,) = _tasks(o)
    assert add.sticky_queue == "sq" and add.task.speculative
    assert add.task.scheduled_event_id == 5 and add.task.events[-1].event_id == 5
    assert add.task.events[-1].event_type == "WorkflowTaskScheduled"
    assert [u.update_id for u in add.task.updates] == ["u1"]
    assert state.next_event_id == 5, "the speculative WorkflowTaskScheduled is not written"
    again = _update(state, history, "u1")
    assert not again.changed and isinstance(again.reply, AckReply)


def test_a_task_that_only_rejects_leaves_no_trace() -> None:
    state, history = _running()
    _update(state, history, "u1")
    reject = cmd.ProtocolMessage(update_id="u1", kind="reject", failure=Failure(message="no"))
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=2), state=state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, commands=(reject,)),
    )
    assert o.events == [] and _tasks(o) == []
    assert state.workflow_task is None and state.next_event_id == 5
    u = state.updates["u1"]
    assert u.stage == "completed" and u.rejected and u.failure is not None and u.failure.message == "no"


def test_an_accepted_update_writes_the_task_as_the_worker_saw_it() -> None:
    state, history = _running()
    first = _update(state, history, "u1", at=1)
    seen = _tasks(first)[0].task.events[-1]
    accept = cmd.ProtocolMessage(update_id="u1", kind="accept")
    complete = cmd.ProtocolMessage(update_id="u1", kind="complete", result=(Payload(data=1),))
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=3), state=state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1", run_id="run1", scheduled_event_id=5, commands=(accept, complete)
        ),
    )
    assert [e.event_type for e in o.events] == [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
    ]
    assert o.events[0] == seen, "same id and time as the worker was handed"
    assert state.updates["u1"].stage == "completed" and state.updates["u1"].accepted_event_id == 8


def test_a_speculative_task_that_times_out_is_written_and_retried() -> None:
    state, history = _running()
    (timeout,) = _update(state, history, "u1").timers_set
    fire = timeout.fire
    assert fire.kind is TimerKind.WORKFLOW_TASK_TIMEOUT and fire.scheduled_event_id == 5
    o = fire_timer.handle(
        OperationContext(now=T0 + timedelta(seconds=20), state=state, history=history), fire
    )
    assert [e.event_type for e in o.events][:3] == [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
    ]
    (retry,) = _tasks(o)
    assert not retry.task.speculative and [u.update_id for u in retry.task.updates] == ["u1"]


def test_updates_to_missing_or_closed_runs_are_not_found() -> None:
    msg = UpdateWorkflowExecution(workflow_id="w1", update_id="u", name="add")
    o = update_workflow.handle(OperationContext(now=T0, state=None, history=[]), msg)
    assert isinstance(o.reply, ErrorReply) and o.reply.code.value == "not_found"


def test_an_update_admitted_while_a_task_runs_follows_in_a_speculative_task() -> None:
    state, history = _running()
    signal_like = _update(state, history, "u1")  # speculative task 5 outstanding
    assert _tasks(signal_like)[0].task.speculative
    _update(state, history, "u2")  # arrives while task 5 runs: waits
    accept = cmd.ProtocolMessage(update_id="u1", kind="accept")
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=3), state=state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, commands=(accept,)),
    )
    history += o.events
    (nxt,) = _tasks(o)
    assert nxt.task.speculative and [u.update_id for u in nxt.task.updates] == ["u2"]
    assert nxt.task.scheduled_event_id == state.next_event_id
    assert nxt.task.events[:-1] == tuple(history)


def test_an_updates_header_travels_with_the_task_and_into_the_accepted_event() -> None:
    state, history = _running()
    header = {"trace": Payload(data="t-1")}
    msg = UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="add", header=header)
    o = update_workflow.handle(OperationContext(now=T0, state=state, history=history), msg)
    (add,) = _tasks(o)
    assert add.task.updates[0].header == header
    accept = cmd.ProtocolMessage(update_id="u1", kind="accept")
    done = complete_workflow_task.handle(
        OperationContext(now=T0, state=state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, commands=(accept,)),
    )
    (accepted,) = [e.attributes for e in done.events if e.event_type == "WorkflowExecutionUpdateAccepted"]
    assert accepted.header == header  # type: ignore[union-attr]
    # A message, a stored state and an event written before headers existed still read.
    assert (
        UpdateWorkflowExecution.model_validate({"workflow_id": "w", "update_id": "u", "name": "n"}).header
        == {}
    )


def test_an_update_past_ten_in_flight_is_refused_as_temporal_does() -> None:
    """Temporal's history.maxInFlightUpdates (10): each admitted update keeps its input (up to
    2 MiB) in mutable state until it completes, so admitting without bound grew the run's state
    (and the task carrying them) without bound. The 11th is refused, `resource_exhausted`; a
    retry of an admitted one is still answered; a completed one makes room."""
    state, history = _running()
    for i in range(10):
        assert isinstance(_update(state, history, f"u{i}").reply, AckReply)
    refused = _update(state, history, "u10")
    assert not refused.changed and isinstance(refused.reply, ErrorReply)
    assert refused.reply.code == "resource_exhausted" and "(10)" in refused.reply.message
    assert "u10" not in state.updates
    assert isinstance(_update(state, history, "u3").reply, AckReply)  # a retry, not a new one
    state.updates["u0"].stage = "completed"
    assert isinstance(_update(state, history, "u10").reply, AckReply)
