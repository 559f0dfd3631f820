"""Pure transitions of the activity model: heartbeats, the heartbeat and schedule-to-start
timers, cancellation requests, and the retry rule's edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tidal_history.api import (
    complete_workflow_task,
    fail_activity_task,
    fire_timer,
    record_activity_heartbeat,
    record_activity_started,
    report_activity_canceled,
    signal_workflow,
    start_workflow,
)
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.retry import next_retry_delay, resolve_policy
from tidal_history.state import MutableState
from tidal_schema import Failure, HistoryEvent, Payload, RetryPolicy
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AckReply,
    ActivityHeartbeatReply,
    AddActivityTask,
    CompleteWorkflowTask,
    ErrorReply,
    FailActivityTask,
    RecordActivityTaskHeartbeat,
    RecordActivityTaskStarted,
    ReportActivityTaskCanceled,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TimerKind,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REF = dict(workflow_id="w1", run_id="run1")


class Run:
    """A run with one scheduled activity (event 5), driven message by message."""

    def __init__(self, **options: object) -> None:
        o = start_workflow.handle(
            OperationContext(now=T0, current=None, new_run_id="run1", shard_id=0),
            StartWorkflowExecution(workflow_id="w1", workflow_type="W", task_queue="q", request_id="r"),
        )
        assert o.state is not None
        self.state: MutableState = o.state
        self.history: list[HistoryEvent] = list(o.events)
        sched = cmd.ScheduleActivityTask(
            activity_id="1",
            activity_type="a",
            task_queue="q",
            start_to_close_timeout=timedelta(seconds=60),
            **options,  # type: ignore[arg-type]
        )
        self.last = self.apply(
            complete_workflow_task.handle,
            CompleteWorkflowTask(**REF, scheduled_event_id=2, commands=(sched,)),
            T0,
        )

    def apply(self, handler, msg, now: datetime) -> Outcome:  # type: ignore[no-untyped-def]
        o: Outcome = handler(OperationContext(now=now, state=self.state, history=self.history), msg)
        self.history += o.events
        return o

    def fire(self, kind: TimerKind, now: datetime) -> Outcome:
        (timer,) = [t for t in self.last.timers_set if t.fire.kind is kind]
        return self.apply(fire_timer.handle, timer.fire, now)

    def close_workflow_task(self, now: datetime, *commands: cmd.Command) -> Outcome:
        assert self.state.workflow_task is not None
        wft = self.state.workflow_task.scheduled_event_id
        return self.apply(
            complete_workflow_task.handle,
            CompleteWorkflowTask(**REF, scheduled_event_id=wft, commands=commands),
            now,
        )


def _types(o: Outcome) -> list[str]:
    return [e.event_type for e in o.events]


def _hb(attempt: int = 1, details: str = "d") -> RecordActivityTaskHeartbeat:
    return RecordActivityTaskHeartbeat(
        **REF, scheduled_event_id=5, attempt=attempt, details=(Payload(data=details),)
    )


def test_heartbeat_stores_details_without_events_and_answers() -> None:
    r = Run(heartbeat_timeout=timedelta(seconds=10))
    o = r.apply(record_activity_heartbeat.handle, _hb(details="step-3"), T0 + timedelta(seconds=1))
    assert o.changed and o.events == [] and o.timers_set == []
    assert o.reply == ActivityHeartbeatReply(cancel_requested=False)
    assert r.state.activities[5].heartbeat_details == (Payload(data="step-3"),)
    # A heartbeat for another attempt says the attempt is gone and changes nothing.
    stale = r.apply(record_activity_heartbeat.handle, _hb(attempt=2), T0)
    assert not stale.changed and stale.reply == ActivityHeartbeatReply(activity_gone=True)


def test_heartbeat_timer_rearms_after_a_heartbeat_and_times_out_without() -> None:
    r = Run(heartbeat_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=2))
    r.apply(record_activity_heartbeat.handle, _hb(details="x"), T0 + timedelta(seconds=6))
    # Due at T0+10, but a heartbeat came at T0+6: re-armed for T0+16, nothing else happens.
    o = r.fire(TimerKind.ACTIVITY_HEARTBEAT, T0 + timedelta(seconds=10))
    r.last = o
    (timer,) = o.timers_set
    assert timer.fire.kind is TimerKind.ACTIVITY_HEARTBEAT and timer.fire_at == T0 + timedelta(seconds=16)
    assert o.events == []
    # No heartbeat since: attempt 1 times out and is retried (with its details).
    o = r.fire(TimerKind.ACTIVITY_HEARTBEAT, T0 + timedelta(seconds=16))
    assert r.state.activities[5].attempt == 2 and o.events == []
    (retry,) = [t for t in o.timers_set if t.fire.kind is TimerKind.ACTIVITY_RETRY]
    r.last = r.apply(fire_timer.handle, retry.fire, retry.fire_at)
    (add,) = [x.message for x in r.last.outbox if isinstance(x.message, AddActivityTask)]
    assert add.task.attempt == 2 and add.task.heartbeat_details == (Payload(data="x"),)
    # The older timer is stale now.
    assert not r.apply(fire_timer.handle, timer.fire, T0 + timedelta(seconds=30)).changed
    # Attempt 2 never heartbeats: the activity times out (maximum_attempts=2).
    o = r.fire(TimerKind.ACTIVITY_HEARTBEAT, retry.fire_at + timedelta(seconds=10))
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskTimedOut", "WorkflowTaskScheduled"]
    timed_out = o.events[1].attributes
    assert timed_out.failure.timeout_type == "Heartbeat"  # type: ignore[union-attr]


def test_schedule_to_start_times_out_unless_started() -> None:
    r = Run(schedule_to_start_timeout=timedelta(seconds=5))
    o = r.fire(TimerKind.ACTIVITY_SCHEDULE_TO_START, T0 + timedelta(seconds=5))
    # Not retried, although the default policy allows unlimited attempts.
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskTimedOut", "WorkflowTaskScheduled"]
    assert o.events[1].attributes.failure.timeout_type == "ScheduleToStart"  # type: ignore[union-attr]

    r = Run(schedule_to_start_timeout=timedelta(seconds=5))
    timers = r.last.timers_set
    o = r.apply(
        record_activity_started.handle,
        RecordActivityTaskStarted(**REF, scheduled_event_id=5, attempt=1),
        T0 + timedelta(seconds=1),
    )
    assert o.changed and o.events == [] and len(o.timers_deleted) == 1
    (s2s,) = [t for t in timers if t.fire.kind is TimerKind.ACTIVITY_SCHEDULE_TO_START]
    assert not r.apply(fire_timer.handle, s2s.fire, T0 + timedelta(seconds=5)).changed


def test_a_heartbeat_over_the_blob_size_limit_fails_the_activity_for_good() -> None:
    # Stored as they were before, and handed to every later attempt in its ActivityTask.
    r = Run(retry_policy=RetryPolicy(maximum_attempts=5))
    hb = _hb(details="z" * 2000)
    o = RunBlob(r, 1024).heartbeat(hb, T0 + timedelta(seconds=1))
    assert o.reply == ActivityHeartbeatReply(activity_gone=True)
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskFailed", "WorkflowTaskScheduled"]
    failure = o.events[1].attributes.failure  # type: ignore[union-attr]
    assert failure.non_retryable and failure.message.startswith("Heartbeat details exceed size limit.")
    assert 5 not in r.state.activities


class RunBlob:
    """`Run` under a blob size limit of `blob_size` bytes."""

    def __init__(self, run: Run, blob_size: int) -> None:
        self.run, self.blob_size = run, blob_size

    def heartbeat(self, msg: RecordActivityTaskHeartbeat, now: datetime) -> Outcome:
        ctx = OperationContext(
            now=now, state=self.run.state, history=self.run.history, blob_size=self.blob_size
        )
        o: Outcome = record_activity_heartbeat.handle(ctx, msg)
        self.run.history += o.events
        return o


def test_failure_is_acknowledged_and_retried_without_events() -> None:
    r = Run()
    fail = FailActivityTask(**REF, scheduled_event_id=5, attempt=1, failure=Failure(message="x", type="E"))
    o = r.apply(fail_activity_task.handle, fail, T0 + timedelta(seconds=1))
    assert isinstance(o.reply, AckReply) and o.events == [] and r.state.activities[5].attempt == 2
    # The same report again is stale: not found, nothing written.
    again = r.apply(fail_activity_task.handle, fail, T0 + timedelta(seconds=2))
    assert not again.changed and isinstance(again.reply, ErrorReply)


@pytest.mark.parametrize("in_backoff", [False, True])
def test_request_cancel(in_backoff: bool) -> None:
    r = Run()
    # Give the workflow a task to answer with a RequestCancelActivityTask: a signal schedules one.
    r.apply(
        signal_workflow.handle,
        SignalWorkflowExecution(workflow_id="w1", signal_name="s", request_id="q"),
        T0,
    )
    if in_backoff:
        fail = FailActivityTask(**REF, scheduled_event_id=5, attempt=1, failure=Failure(message="x"))
        r.apply(fail_activity_task.handle, fail, T0 + timedelta(seconds=1))
    o = r.close_workflow_task(T0 + timedelta(seconds=1), cmd.RequestCancelActivityTask(scheduled_event_id=5))
    if in_backoff:
        # Nothing runs: cancelled at once, and the workflow gets a task to see it.
        assert _types(o)[2:] == [
            "ActivityTaskCancelRequested",
            "ActivityTaskCanceled",
            "WorkflowTaskScheduled",
        ]
        assert 5 not in r.state.activities
        return
    assert _types(o)[2:] == ["ActivityTaskCancelRequested"]
    hb = r.apply(record_activity_heartbeat.handle, _hb(), T0 + timedelta(seconds=2))
    assert hb.reply == ActivityHeartbeatReply(cancel_requested=True)
    done = r.apply(
        report_activity_canceled.handle,
        ReportActivityTaskCanceled(**REF, scheduled_event_id=5, attempt=1, details=(Payload(data="bye"),)),
        T0 + timedelta(seconds=3),
    )
    assert _types(done) == ["ActivityTaskStarted", "ActivityTaskCanceled", "WorkflowTaskScheduled"]
    again = r.apply(
        report_activity_canceled.handle,
        ReportActivityTaskCanceled(**REF, scheduled_event_id=5, attempt=1),
        T0 + timedelta(seconds=4),
    )
    assert not again.changed and isinstance(again.reply, ErrorReply) and again.reply.code.value == "not_found"


def test_a_failure_after_a_cancel_request_is_not_retried() -> None:
    r = Run()
    r.state.activities[5].cancel_requested = True
    fail = FailActivityTask(**REF, scheduled_event_id=5, attempt=1, failure=Failure(message="x"))
    o = r.apply(fail_activity_task.handle, fail, T0 + timedelta(seconds=1))
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskFailed", "WorkflowTaskScheduled"]
    assert o.events[1].attributes.retry_state == "CancelRequested"  # type: ignore[union-attr]


def _delay(policy: RetryPolicy, attempt: int, failure: Failure | None = None) -> timedelta | None:
    return next_retry_delay(
        resolve_policy(policy),
        attempt=attempt,
        failure=failure or Failure(message="x"),
        now=T0,
        expiration=None,
    )


def test_retry_rule_edges() -> None:
    p = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=3)
    assert [_delay(p, n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (1, 3, 9)]
    # maximum_interval caps; by default it is 100 x the initial interval
    capped = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5))
    assert _delay(capped, 10) == timedelta(seconds=5)
    assert _delay(RetryPolicy(initial_interval=timedelta(seconds=1)), 30) == timedelta(seconds=100)
    # maximum_attempts counts attempts made
    assert _delay(RetryPolicy(maximum_attempts=3), 2) is not None
    assert _delay(RetryPolicy(maximum_attempts=3), 3) is None
    # non-retryable: by flag or by type
    assert _delay(RetryPolicy(), 1, Failure(message="x", non_retryable=True)) is None
    assert (
        _delay(RetryPolicy(non_retryable_error_types=("Bad",)), 1, Failure(message="x", type="Bad")) is None
    )
    # next_retry_delay wins over the policy's backoff
    nrd = Failure(message="x", next_retry_delay=timedelta(milliseconds=250))
    assert _delay(RetryPolicy(initial_interval=timedelta(minutes=5)), 1, nrd) == timedelta(milliseconds=250)
    # no retry past the schedule-to-close expiration
    assert (
        next_retry_delay(
            resolve_policy(RetryPolicy()),
            attempt=1,
            failure=Failure(message="x"),
            now=T0,
            expiration=T0 + timedelta(milliseconds=500),
        )
        is None
    )


def test_describe_facts_started_time_worker_identity_and_failure_time() -> None:
    """What describe shows of a pending activity: when history learnt the attempt started, the
    worker that last reported, and when the last attempt failed (the next one's time is
    `current_attempt_scheduled_time`)."""
    r = Run(retry_policy=RetryPolicy(initial_interval=timedelta(minutes=5)))
    info = r.state.activities[5]
    assert (info.last_started_time, info.last_worker_identity) == (None, "")
    hb = _hb().model_copy(update={"identity": "worker-a"})
    r.apply(record_activity_heartbeat.handle, hb, T0 + timedelta(seconds=1))
    r.apply(record_activity_heartbeat.handle, hb, T0 + timedelta(seconds=2))
    assert info.last_started_time == T0 + timedelta(seconds=1)  # the first report, not the last
    assert info.last_worker_identity == "worker-a"
    fail = FailActivityTask(
        **REF, scheduled_event_id=5, attempt=1, failure=Failure(message="x"), identity="worker-b"
    )
    r.apply(fail_activity_task.handle, fail, T0 + timedelta(seconds=3))
    assert info.attempt == 2 and info.last_worker_identity == "worker-b"
    assert info.last_attempt_complete_time == T0 + timedelta(seconds=3)
    assert info.current_attempt_scheduled_time == T0 + timedelta(seconds=3, minutes=5)
    # The retry's start notice restarts the clock for the new attempt.
    started = RecordActivityTaskStarted(**REF, scheduled_event_id=5, attempt=2, identity="worker-c")
    r.apply(record_activity_started.handle, started, T0 + timedelta(minutes=6))
    assert info.last_started_time == T0 + timedelta(minutes=6) and info.last_worker_identity == "worker-c"
    # The state document round-trips with the new fields (history reloads it from Postgres).
    again = MutableState.model_validate_json(r.state.model_dump_json())
    assert again.activities[5] == info
