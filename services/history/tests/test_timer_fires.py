"""Timer fires are at least once (the timer service may publish a due timer again after a restart,
and the bus may redeliver), so every fire is keyed to the one thing it was set for: a duplicate, or
a fire left over from an earlier attempt or task, changes nothing and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tidal_history.api import (
    fail_activity_task,
    fail_workflow_task,
    record_activity_started,
    update_workflow,
)
from tidal_history.mutation import Outcome
from tidal_schema import Failure, RetryPolicy
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AddActivityTask,
    FailActivityTask,
    FailWorkflowTask,
    RecordActivityTaskStarted,
    TimerKind,
    UpdateWorkflowExecution,
)

from tests.support.history_run import RUN, Run, types

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0, maximum_attempts=5)


def _with_activity(**options: object) -> Run:
    r = Run()
    opts: dict[str, object] = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": RETRY}
    opts.update(options)
    r.complete(cmd.ScheduleActivityTask(activity_id="a", activity_type="act", task_queue="q", **opts))  # type: ignore[arg-type]
    return r


def _activity(r: Run) -> int:
    (info,) = r.state.activities.values()
    return info.scheduled_event_id


def _fail_attempt(r: Run, attempt: int) -> Outcome:
    msg = FailActivityTask(
        workflow_id="w1",
        run_id=RUN,
        scheduled_event_id=_activity(r),
        attempt=attempt,
        failure=Failure(message="x"),
    )
    return r.apply(fail_activity_task.handle, msg)


def _dispatched(o: Outcome) -> list[int]:
    return [x.message.task.attempt for x in o.outbox if isinstance(x.message, AddActivityTask)]


def _no_op(o: Outcome) -> None:
    assert (
        not o.changed and o.events == [] and o.outbox == [] and o.timers_set == [] and o.timers_deleted == []
    )


def test_a_duplicated_activity_retry_fire_dispatches_the_attempt_once() -> None:
    r = _with_activity()
    _fail_attempt(r, 1)
    retry = r.timer(TimerKind.ACTIVITY_RETRY)
    assert retry.fire.attempt == 2
    assert _dispatched(r.fire(retry)) == [2]
    _no_op(r.fire(retry))  # duplicated right away
    r.apply(
        record_activity_started.handle,
        RecordActivityTaskStarted(workflow_id="w1", run_id=RUN, scheduled_event_id=_activity(r), attempt=2),
    )
    _no_op(r.fire(retry))  # after the attempt started
    _fail_attempt(r, 2)
    _no_op(r.fire(retry))  # after it failed and attempt 3 waits for its own fire
    assert _dispatched(r.fire(r.timer(TimerKind.ACTIVITY_RETRY))) == [3]


def _start_to_close(r: Run) -> None:
    r.fire(r.timer(TimerKind.ACTIVITY_TIMEOUT))


CASES = {
    "start-to-close": (lambda: _with_activity(), TimerKind.ACTIVITY_TIMEOUT),
    "schedule-to-close": (
        lambda: _with_activity(start_to_close_timeout=None, schedule_to_close_timeout=timedelta(seconds=40)),
        TimerKind.ACTIVITY_TIMEOUT,
    ),
    "heartbeat": (
        lambda: _with_activity(heartbeat_timeout=timedelta(seconds=5)),
        TimerKind.ACTIVITY_HEARTBEAT,
    ),
    "schedule-to-start": (
        lambda: _with_activity(schedule_to_start_timeout=timedelta(seconds=5)),
        TimerKind.ACTIVITY_SCHEDULE_TO_START,
    ),
    "user timer": (
        lambda: _started_and(cmd.StartTimer(timer_id="t", start_to_fire_timeout=timedelta(seconds=5))),
        TimerKind.USER_TIMER,
    ),
    "workflow task timeout": (lambda: Run(), TimerKind.WORKFLOW_TASK_TIMEOUT),
    "workflow task retry": (lambda: _failing_task(3), TimerKind.WORKFLOW_TASK_RETRY),
    "run timeout": (lambda: Run(run_timeout=timedelta(minutes=1)), TimerKind.WORKFLOW_RUN_TIMEOUT),
}


def _started_and(*commands: cmd.Command) -> Run:
    r = Run()
    r.complete(*commands)
    return r


def _failing_task(failures: int) -> Run:
    """A run whose workflow task failed `failures` times: the next attempt waits on a backoff timer
    (the first retry is immediate)."""
    r = Run()
    for _ in range(failures - 1):
        r.apply(
            fail_workflow_task.handle,
            FailWorkflowTask(
                workflow_id="w1", run_id=RUN, scheduled_event_id=r.task_id, failure=Failure(message="bug")
            ),
        )
    assert r.state.workflow_task is None and r.state.wft_retry_attempt == failures
    return r


@pytest.mark.parametrize("case", list(CASES))
def test_every_kind_of_fire_applies_once(case: str) -> None:
    make, kind = CASES[case]
    r = make()
    timer = r.timer(kind)
    first = r.fire(timer)
    assert first.changed, "the first fire does what it was set for"
    _no_op(r.fire(timer))


def test_the_timeout_of_a_dropped_speculative_task_does_not_time_out_the_next_one() -> None:
    """A speculative task (for an update) that only rejected leaves no event, so the next one is
    scheduled at the same event id; the dropped task's timeout fire must not time that one out."""
    r = Run()
    r.complete()
    r.apply(update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="set"))
    dropped = r.timer(TimerKind.WORKFLOW_TASK_TIMEOUT)
    spec_id = r.task_id
    r.complete(cmd.ProtocolMessage(update_id="u1", kind="reject"))
    assert r.state.workflow_task is None
    r.apply(update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id="u2", name="set"))
    assert r.task_id == spec_id, "the next speculative task takes the same event id"
    current = r.timer(TimerKind.WORKFLOW_TASK_TIMEOUT)
    assert current.key != dropped.key

    _no_op(r.fire(dropped))
    assert r.state.workflow_task is not None and r.state.workflow_task.speculative
    assert "WorkflowTaskTimedOut" in types(r.fire(current).events)


def test_a_workflow_task_retry_fire_from_an_earlier_failure_streak_is_stale() -> None:
    r = _failing_task(3)
    old = r.timer(TimerKind.WORKFLOW_TASK_RETRY)
    r.fire(old)
    r.complete()  # attempt 3 succeeds
    r.signal("s1")
    for _ in range(2):  # a new streak: attempt 2 at once, attempt 3 after a backoff again
        r.apply(
            fail_workflow_task.handle,
            FailWorkflowTask(
                workflow_id="w1", run_id=RUN, scheduled_event_id=r.task_id, failure=Failure(message="bug")
            ),
        )
    new = r.timer(TimerKind.WORKFLOW_TASK_RETRY)
    assert new.key != old.key and r.state.wft_retry_attempt == 3
    _no_op(r.fire(old))
    assert r.state.workflow_task is None, "the new streak still waits for its own backoff"
    assert r.fire(new).changed and r.state.workflow_task is not None
