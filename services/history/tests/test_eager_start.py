"""Eager workflow start as a transition (api/eager_start.py): which starts get their first
workflow task back in the reply, the history such a run writes, and the timeout that hands the
task out again when the worker that took it never completes it."""

from tidal_history.api import eager_start, start_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import CurrentRun, OperationContext
from tidal_schema import WorkflowExecutionStatus, WorkflowIdConflictPolicy
from tidal_schema.messages import (
    AddWorkflowTask,
    StartWorkflowExecution,
    StartWorkflowReply,
    TimerKind,
    WorkflowTask,
)

from tests.support.history_run import RUN, STICKY, T0, Run, types


def _start(current: CurrentRun | None = None, **fields: object) -> Outcome:
    msg = StartWorkflowExecution.model_validate(
        {
            "workflow_id": "w1",
            "workflow_type": "Order",
            "task_queue": "q",
            "request_id": "r1",
            "input": [{"data": "o-1"}],
            "request_eager_execution": True,
            **fields,
        }
    )
    ctx = OperationContext(now=T0, current=current, new_run_id="run2", shard_id=3)
    return start_workflow.handle(ctx, msg)


def _task(o: Outcome) -> WorkflowTask | None:
    assert isinstance(o.reply, StartWorkflowReply)
    return o.reply.eager_workflow_task


def _dispatched(o: Outcome) -> list[AddWorkflowTask]:
    return [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]


def test_a_granted_start_returns_its_first_task_instead_of_dispatching_it() -> None:
    o = _start()
    task = _task(o)
    assert task is not None and _dispatched(o) == []
    assert types(o.events) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    assert task.run_id == "run2" and task.scheduled_event_id == 2 and task.attempt == 1
    assert [e.event_id for e in task.events] == [1, 2] and task.history_routing_key == "shard.3"
    # Committed with the start: the task's timeout, which hands it out again if it is lost.
    assert [t.fire.kind for t in o.timers_set] == [TimerKind.WORKFLOW_TASK_TIMEOUT]
    assert o.state is not None and o.state.workflow_task is not None
    assert not o.state.workflow_task.unstarted  # held by the worker: later inputs are buffered


def test_not_asked_or_a_start_that_cannot_be_eager_dispatches_through_matching() -> None:
    big = {"data": "x" * (eager_start.MAX_INPUT_BYTES + 1)}
    for fields in ({"request_eager_execution": False}, {"input": [big]}, {"memo": {"m": big}}):
        o = _start(**fields)
        assert _task(o) is None, fields
        assert len(_dispatched(o)) == 1, fields
    for fields in ({"start_delay": 5}, {"cron_schedule": "@every 1h"}):
        o = _start(**fields)  # the first task waits for a timer: nothing to hand out now
        assert _task(o) is None and _dispatched(o) == [], fields
        assert TimerKind.WORKFLOW_TASK_RETRY in [t.fire.kind for t in o.timers_set], fields


def test_an_existing_run_gets_no_eager_task() -> None:
    running = CurrentRun(run_id="run1", status=WorkflowExecutionStatus.RUNNING, start_request_id="r0")
    # A retried start (same request id) is answered, not applied again: no task to hand out.
    retried = _start(CurrentRun(run_id="run1", status=WorkflowExecutionStatus.RUNNING, start_request_id="r1"))
    assert _task(retried) is None and retried.events == []
    used = _start(running, id_conflict_policy=WorkflowIdConflictPolicy.USE_EXISTING)
    assert _task(used) is None and isinstance(used.reply, StartWorkflowReply) and not used.reply.started
    # TERMINATE_EXISTING: the run replacing a terminated one goes the usual way.
    replaced = _start(running, id_conflict_policy=WorkflowIdConflictPolicy.TERMINATE_EXISTING)
    assert _task(replaced) is None and len(_dispatched(replaced)) == 1
    # A closed run under the default reuse policy: a new run, nothing in the way.
    closed = CurrentRun(run_id="run1", status=WorkflowExecutionStatus.COMPLETED, start_request_id="r0")
    assert _task(_start(closed)) is not None


def test_the_history_of_an_eager_run_is_the_usual_one_and_inputs_wait_for_the_next_task() -> None:
    r = Run(eager=True)
    assert isinstance(r.last.reply, StartWorkflowReply) and r.last.reply.eager_workflow_task is not None
    r.signal("s1")  # arrives while the eager task runs: buffered, not written before its start
    assert types(r.history) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    r.complete()
    assert types(r.history) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]
    (sticky,) = _dispatched(r.last)
    assert sticky.sticky_queue == STICKY  # the next task goes to the worker's own queue


def test_a_task_whose_worker_died_times_out_and_goes_through_matching() -> None:
    r = Run(eager=True)
    o = r.fire(r.timer(TimerKind.WORKFLOW_TASK_TIMEOUT))
    assert types(r.history)[2:] == ["WorkflowTaskStarted", "WorkflowTaskTimedOut", "WorkflowTaskScheduled"]
    (again,) = _dispatched(o)
    assert again.sticky_queue is None and again.task.attempt == 2 and again.task.run_id == RUN
