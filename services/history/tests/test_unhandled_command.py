"""A workflow-task completion that would close the run while events are buffered is refused
(Temporal's UNHANDLED_COMMAND): WorkflowTaskFailed(cause UnhandledCommand), the buffered events
written, a new task scheduled. Message in, events/outbox out, for every kind of buffered input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from tidal_history.api import (
    child_workflow_closed,
    complete_activity_task,
    fail_activity_task,
    fire_timer,
    request_cancel_workflow,
    terminate_workflow,
    update_workflow,
)
from tidal_history.mutation import timer_key
from tidal_schema import Failure, Payload, RetryPolicy, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AddWorkflowTask,
    ChildWorkflowClosed,
    CompleteActivityTask,
    FailActivityTask,
    FireTimer,
    RequestCancelWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    UpdateWorkflowExecution,
    WorkflowClosed,
)

from tests.support.history_run import RUN, Run, types


def _started_with_pending_work() -> Run:
    """A run whose first task scheduled an activity, a timer and a child; a signal then put a
    second task out (outstanding when each test's buffered input arrives)."""
    r = Run(retry_policy=RetryPolicy(maximum_attempts=3))
    r.complete(
        cmd.ScheduleActivityTask(
            activity_id="a1",
            activity_type="act",
            task_queue="q",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        ),
        cmd.StartTimer(timer_id="t1", start_to_fire_timeout=timedelta(seconds=5)),
        cmd.StartChildWorkflowExecution(
            namespace="default", workflow_id="c1", workflow_type="C", task_queue="q"
        ),
    )
    r.signal("s0")
    assert r.state.workflow_task is not None
    return r


def _activity_id(r: Run) -> int:
    (info,) = r.state.activities.values()
    return info.scheduled_event_id


def _signal(r: Run) -> str:
    r.signal("s1")
    return "WorkflowExecutionSignaled"


def _cancel_request(r: Run) -> str:
    r.apply(request_cancel_workflow.handle, RequestCancelWorkflowExecution(workflow_id="w1", request_id="c1"))
    return "WorkflowExecutionCancelRequested"


def _activity_completed(r: Run) -> str:
    msg = CompleteActivityTask(workflow_id="w1", run_id=RUN, scheduled_event_id=_activity_id(r), attempt=1)
    r.apply(complete_activity_task.handle, msg)
    return "ActivityTaskCompleted"


def _activity_failed(r: Run) -> str:
    msg = FailActivityTask(
        workflow_id="w1",
        run_id=RUN,
        scheduled_event_id=_activity_id(r),
        attempt=1,
        failure=Failure(message="boom"),
    )
    r.apply(fail_activity_task.handle, msg)
    return "ActivityTaskFailed"


def _timer_fired(r: Run) -> str:
    timer = r.state.timers["t1"]
    key = timer_key(RUN, TimerKind.USER_TIMER, timer_id="t1", scheduled_event_id=timer.started_event_id)
    fire = FireTimer(
        workflow_id="w1",
        run_id=RUN,
        kind=TimerKind.USER_TIMER,
        key=key,
        timer_id="t1",
        scheduled_event_id=timer.started_event_id,
    )
    r.apply(fire_timer.handle, fire)
    return "TimerFired"


def _child_closed(r: Run) -> str:
    (initiated,) = r.state.children
    msg = ChildWorkflowClosed(
        workflow_id="w1",
        run_id=RUN,
        initiated_event_id=initiated,
        child_workflow_id="c1",
        child_run_id="c-run",
        workflow_type="C",
        status=WorkflowExecutionStatus.COMPLETED,
    )
    r.apply(child_workflow_closed.handle, msg)
    return "ChildWorkflowExecutionCompleted"


BUFFERED: dict[str, Callable[[Run], str]] = {
    "signal": _signal,
    "cancel request": _cancel_request,
    "activity completed": _activity_completed,
    "activity failed": _activity_failed,
    "timer fired": _timer_fired,
    "child closed": _child_closed,
}

CLOSES: dict[str, cmd.Command] = {
    "complete": cmd.CompleteWorkflowExecution(result=(Payload(data="3"),)),
    "fail": cmd.FailWorkflowExecution(failure=Failure(message="no", non_retryable=True)),
    "fail with retry": cmd.FailWorkflowExecution(failure=Failure(message="again")),
    "cancel": cmd.CancelWorkflowExecution(),
    "continue as new": cmd.ContinueAsNewWorkflowExecution(workflow_type="Entity", task_queue="q"),
}


@pytest.mark.parametrize("close", list(CLOSES))
@pytest.mark.parametrize("kind", list(BUFFERED))
def test_a_close_with_buffered_events_is_refused_and_the_events_reach_a_new_task(
    kind: str, close: str
) -> None:
    r = _started_with_pending_work()
    refused_task = r.task_id
    event_type = BUFFERED[kind](r)
    assert r.state.buffered_events, "the input was buffered behind the outstanding task"

    o = r.complete(cmd.StartTimer(timer_id="t2", start_to_fire_timeout=timedelta(seconds=1)), CLOSES[close])

    assert r.state.status is WorkflowExecutionStatus.RUNNING
    assert o.successor is None and not [x for x in o.outbox if isinstance(x.message, WorkflowClosed)]
    seen = types(o.events)
    assert seen[:2] == ["WorkflowTaskStarted", "WorkflowTaskFailed"]
    failed = o.events[1].attributes
    assert failed.cause == "UnhandledCommand"  # type: ignore[union-attr]
    assert failed.scheduled_event_id == refused_task  # type: ignore[union-attr]
    # The whole completion is refused: none of its commands (the StartTimer either) is applied.
    assert "TimerStarted" not in seen and "t2" not in r.state.timers
    assert event_type in seen and seen[-1] == "WorkflowTaskScheduled"
    assert not r.state.buffered_events
    # The new task is a first attempt (nothing failed in the worker) and carries the events.
    assert r.state.workflow_task is not None and r.state.workflow_task.attempt == 1
    (add,) = [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    assert add.task.scheduled_event_id == r.task_id and event_type in types(list(add.task.events))
    assert add.sticky_queue is None  # the worker dropped its instance: a full replay
    assert [e.event_id for e in r.history] == list(range(1, len(r.history) + 1))

    # The workflow code, having seen the events, closes again: now it is accepted.
    o = r.complete(CLOSES[close])
    assert "WorkflowTaskCompleted" in types(o.events)
    assert r.state.status is not WorkflowExecutionStatus.RUNNING


def test_an_update_admitted_during_the_task_refuses_the_close_and_goes_out_with_the_next_task() -> None:
    r = _started_with_pending_work()
    r.apply(update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="set"))
    assert r.state.updates["u1"].stage == "admitted" and not r.state.buffered_events

    o = r.complete(cmd.CompleteWorkflowExecution())

    assert r.state.is_running
    assert types(o.events) == ["WorkflowTaskStarted", "WorkflowTaskFailed", "WorkflowTaskScheduled"]
    (add,) = [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    assert [u.update_id for u in add.task.updates] == ["u1"]
    assert r.state.updates["u1"].stage == "admitted"


def test_an_update_delivered_with_the_refused_task_is_delivered_again_not_rejected() -> None:
    r = _started_with_pending_work()
    r.complete()  # the signal's task: no commands; the run waits with no task outstanding
    assert r.state.workflow_task is None
    r.apply(update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="set"))
    assert r.state.workflow_task is not None  # a speculative task carries u1
    r.signal("s9")  # arrives while it is out

    r.complete(cmd.CompleteWorkflowExecution())

    assert r.state.is_running and r.state.updates["u1"].stage == "admitted"
    (add,) = [x.message for x in r.last.outbox if isinstance(x.message, AddWorkflowTask)]
    assert [u.update_id for u in add.task.updates] == ["u1"]


def test_a_close_without_buffered_events_is_accepted() -> None:
    r = _started_with_pending_work()
    o = r.complete(cmd.CompleteWorkflowExecution())
    assert types(o.events)[:3] == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    assert r.state.status is WorkflowExecutionStatus.COMPLETED


def test_other_commands_with_buffered_events_are_applied_and_the_events_flushed_after_them() -> None:
    r = _started_with_pending_work()
    r.signal("s1")
    o = r.complete(cmd.StartTimer(timer_id="t2", start_to_fire_timeout=timedelta(seconds=1)))
    assert types(o.events) == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "TimerStarted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]


def test_terminate_writes_the_buffered_events_before_closing() -> None:
    """Terminate runs no workflow code, but what was acknowledged is still written to history."""
    r = _started_with_pending_work()
    r.signal("s1")
    o = r.apply(terminate_workflow.handle, TerminateWorkflowExecution(workflow_id="w1", reason="stop"))
    seen = types(o.events)
    assert seen.index("WorkflowExecutionSignaled") < seen.index("WorkflowExecutionTerminated")
    assert r.state.status is WorkflowExecutionStatus.TERMINATED
    assert [e.event_id for e in r.history] == list(range(1, len(r.history) + 1))
