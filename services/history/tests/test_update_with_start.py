"""The pure update-with-start transition: a new run whose first task carries the update, the
running run updated (UseExisting) or refused, duplicates answered."""

from datetime import UTC, datetime

from tidal_history.api import start_workflow, update_with_start
from tidal_history.mutation import Outcome
from tidal_history.operation import CurrentRun, OperationContext
from tidal_schema import Payload, WorkflowExecutionStatus, WorkflowIdConflictPolicy
from tidal_schema.messages import (
    AddWorkflowTask,
    ErrorCode,
    ErrorReply,
    StartWorkflowExecution,
    StartWorkflowReply,
    UpdateWithStartWorkflowExecution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _uws(
    request_id: str = "uws-1", update_id: str = "u-1", **extra: object
) -> UpdateWithStartWorkflowExecution:
    return UpdateWithStartWorkflowExecution(
        workflow_id="w1",
        workflow_type="Cart",
        task_queue="q",
        request_id=request_id,
        update_id=update_id,
        update_name="add",
        update_input=(Payload(data=5),),
        **extra,  # type: ignore[arg-type]
    )


def _current(o: Outcome) -> CurrentRun:
    assert o.state is not None
    return CurrentRun(run_id=o.state.run_id, status=o.state.status, start_request_id=o.state.start_request_id)


def test_no_run_starts_one_whose_first_task_carries_the_update() -> None:
    o = update_with_start.handle(
        OperationContext(now=T0, current=None, state=None, history=[], new_run_id="run1", shard_id=0), _uws()
    )
    assert o.changed and o.is_new_run and o.state is not None
    # Nothing about the update in history: it is admitted in state, as every update.
    assert [e.event_type for e in o.events] == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    assert list(o.state.updates) == ["u-1"]
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1" and o.reply.started
    (add,) = [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    assert [(u.update_id, u.name) for u in add.task.updates] == [("u-1", "add")]


def test_running_run_is_updated_only_with_use_existing() -> None:
    start = StartWorkflowExecution(workflow_id="w1", workflow_type="Cart", task_queue="q", request_id="s1")
    first = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run1", shard_id=0), start
    )
    assert first.state is not None
    state, history = first.state, list(first.events)
    refused = update_with_start.handle(
        OperationContext(
            now=T0, current=_current(first), state=state, history=history, new_run_id="x", shard_id=0
        ),
        _uws(),
    )
    assert not refused.changed
    assert isinstance(refused.reply, ErrorReply) and refused.reply.code is ErrorCode.ALREADY_STARTED
    assert refused.reply.run_id == "run1" and not state.updates
    use = _uws(id_conflict_policy=WorkflowIdConflictPolicy.USE_EXISTING)
    o = update_with_start.handle(
        OperationContext(
            now=T0, current=_current(first), state=state, history=history, new_run_id="x", shard_id=0
        ),
        use,
    )
    assert o.changed and not o.is_new_run and list(state.updates) == ["u-1"]
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1" and not o.reply.started
    # The same update again (a client retry) is answered, not admitted twice.
    again = update_with_start.handle(
        OperationContext(
            now=T0, current=_current(first), state=state, history=history, new_run_id="y", shard_id=0
        ),
        use,
    )
    assert not again.changed and isinstance(again.reply, StartWorkflowReply) and again.reply.run_id == "run1"


def test_a_retry_of_the_start_answers_the_run_it_started_even_once_closed() -> None:
    o = update_with_start.handle(
        OperationContext(now=T0, current=None, state=None, history=[], new_run_id="run1", shard_id=0), _uws()
    )
    assert o.state is not None
    o.state.status = WorkflowExecutionStatus.COMPLETED
    again = update_with_start.handle(
        OperationContext(
            now=T0, current=_current(o), state=o.state, history=list(o.events), new_run_id="run2", shard_id=0
        ),
        _uws(),
    )
    assert not again.changed and isinstance(again.reply, StartWorkflowReply)
    assert again.reply.run_id == "run1" and again.reply.started
