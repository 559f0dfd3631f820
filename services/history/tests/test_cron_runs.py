"""Temporal's cron schedule on a workflow (api/cron_runs.py), as pure transitions: the first
task waits for the first cron time; a completed or failed run starts the next one after the
backoff, carrying the last result; a cancelled run ends the chain."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_workflow_task, start_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_schema import Failure, HistoryEvent, Payload, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import CompleteWorkflowTask, StartWorkflowExecution, TimerKind

T0 = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)  # 7 s before the next "@every 10s" time


def _start(cron: str = "@every 10s") -> Outcome:
    return start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run-1", shard_id=0),
        StartWorkflowExecution(
            workflow_id="w", workflow_type="T", task_queue="q", request_id="r", cron_schedule=cron
        ),
    )


def _first_task_timer(o: Outcome) -> datetime:
    (timer,) = [t for t in o.timers_set if t.fire.kind is TimerKind.WORKFLOW_TASK_RETRY]
    return timer.fire_at


def _close(o: Outcome, command: cmd.Command, *, at: datetime) -> tuple[Outcome, list[HistoryEvent]]:
    state, history = o.state, list(o.events)
    assert state is not None
    # The delayed first task is due: schedule it as its timer fire would.
    state.wft_retry_attempt = None
    from tidal_history.mutation import Mutation

    m = Mutation(state, history, now=at)
    m.schedule_workflow_task()
    history += m.finish().events
    wft = state.workflow_task
    assert wft is not None
    closed = complete_workflow_task.handle(
        OperationContext(now=at, state=state, history=history),
        CompleteWorkflowTask(
            workflow_id="w", run_id="run-1", scheduled_event_id=wft.scheduled_event_id, commands=(command,)
        ),
    )
    return closed, history + closed.events


def test_the_first_task_waits_for_the_first_cron_time() -> None:
    o = _start()
    started = o.events[0].attributes
    assert isinstance(started, ev.WorkflowExecutionStarted)
    assert started.cron_schedule == "@every 10s"
    assert started.first_workflow_task_backoff == timedelta(seconds=7)
    assert _first_task_timer(o) == T0 + timedelta(seconds=7)
    assert [e.event_type for e in o.events] == ["WorkflowExecutionStarted"]


def test_a_completed_run_starts_the_next_with_its_result() -> None:
    at = T0 + timedelta(seconds=5)  # 2 s before the next time (00:00:10)
    result = (Payload(data=1),)
    o, history = _close(_start(), cmd.CompleteWorkflowExecution(result=result), at=at)
    close = history[-1].attributes
    assert isinstance(close, ev.WorkflowExecutionCompleted) and close.new_execution_run_id
    assert o.state is not None and o.state.status is WorkflowExecutionStatus.COMPLETED
    successor = o.successor
    assert successor is not None and successor.state is not None
    nxt = successor.events[0].attributes
    assert isinstance(nxt, ev.WorkflowExecutionStarted)
    assert (nxt.initiator, nxt.last_completion_result, nxt.first_workflow_task_backoff) == (
        "CronSchedule",
        result,
        timedelta(seconds=2),
    )
    assert nxt.first_execution_run_id == "run-1" and nxt.continued_execution_run_id == "run-1"
    assert successor.state.cron_schedule == "@every 10s"
    assert _first_task_timer(successor) == at + timedelta(seconds=2)


def test_a_failed_run_carries_its_failure_and_the_last_result() -> None:
    failure = Failure(message="boom")
    o, history = _close(_start(), cmd.FailWorkflowExecution(failure=failure), at=T0 + timedelta(seconds=8))
    assert isinstance(history[-1].attributes, ev.WorkflowExecutionFailed)
    assert o.successor is not None
    nxt = o.successor.events[0].attributes
    assert isinstance(nxt, ev.WorkflowExecutionStarted)
    assert nxt.continued_failure == failure and nxt.last_completion_result == ()


def test_a_cancelled_run_ends_the_chain() -> None:
    o, history = _close(_start(), cmd.CancelWorkflowExecution(), at=T0 + timedelta(seconds=8))
    assert isinstance(history[-1].attributes, ev.WorkflowExecutionCanceled)
    assert o.successor is None


def test_without_a_cron_schedule_a_completion_closes_the_run() -> None:
    o = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run-1", shard_id=0),
        StartWorkflowExecution(workflow_id="w", workflow_type="T", task_queue="q", request_id="r"),
    )
    assert not [t for t in o.timers_set if t.fire.kind is TimerKind.WORKFLOW_TASK_RETRY]
    state, history = o.state, list(o.events)
    assert state is not None and state.workflow_task is not None
    done = complete_workflow_task.handle(
        OperationContext(now=T0, state=state, history=history),
        CompleteWorkflowTask(
            workflow_id="w",
            run_id="run-1",
            scheduled_event_id=state.workflow_task.scheduled_event_id,
            commands=(cmd.CompleteWorkflowExecution(),),
        ),
    )
    close = done.events[-1].attributes
    assert isinstance(close, ev.WorkflowExecutionCompleted) and close.new_execution_run_id is None
    assert done.successor is None
