"""Failure handling shared by activity failures and activity timeouts (one retry rule)."""

from __future__ import annotations

from tidal_schema import Failure
from tidal_schema import events as ev
from tidal_schema.messages import TimerKind

from ..mutation import Mutation, timer_key
from ..retry import next_retry_delay
from ..state import ActivityInfo


def clear_activity_timers(m: Mutation, info: ActivityInfo) -> None:
    run_id = m.state.run_id
    m.delete_timer(
        timer_key(
            run_id,
            TimerKind.ACTIVITY_TIMEOUT,
            scheduled_event_id=info.scheduled_event_id,
            attempt=info.attempt,
        )
    )
    if info.schedule_to_close_timeout is not None:
        m.delete_timer(
            timer_key(run_id, TimerKind.ACTIVITY_TIMEOUT, scheduled_event_id=info.scheduled_event_id)
        )


def fail_attempt(
    m: Mutation, info: ActivityInfo, failure: Failure, *, timed_out: bool, identity: str = ""
) -> None:
    """Retry per the activity's policy, or record the final failure for the workflow."""
    m.delete_timer(
        timer_key(
            m.state.run_id,
            TimerKind.ACTIVITY_TIMEOUT,
            scheduled_event_id=info.scheduled_event_id,
            attempt=info.attempt,
        )
    )
    expiration = (
        info.scheduled_time + info.schedule_to_close_timeout
        if info.schedule_to_close_timeout is not None
        else None
    )
    delay = next_retry_delay(
        info.retry_policy, attempt=info.attempt, failure=failure, now=m.now, expiration=expiration
    )
    if delay is not None:
        info.attempt += 1
        info.last_failure = failure
        info.current_attempt_scheduled_time = m.now + delay
        m.set_timer(
            TimerKind.ACTIVITY_RETRY,
            fire_at=m.now + delay,
            scheduled_event_id=info.scheduled_event_id,
            attempt=info.attempt,
        )
        return
    del m.state.activities[info.scheduled_event_id]
    clear_activity_timers(m, info)
    retry_state = "NonRetryableFailure" if failure.non_retryable else "MaximumAttemptsReached"
    outcome: ev.EventAttributes
    if timed_out:
        outcome = ev.ActivityTaskTimedOut(
            failure=failure,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=0,
            retry_state="Timeout",
        )
    else:
        outcome = ev.ActivityTaskFailed(
            failure=failure,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=0,
            identity=identity,
            retry_state=retry_state,
        )
    m.record_activity_outcome(info, outcome)
