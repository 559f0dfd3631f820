"""Rules shared by the activity transitions: which attempt a message is for, one retry rule for
failures and timeouts, and the replies async completion and heartbeats get."""

from __future__ import annotations

from tidal_schema import Failure
from tidal_schema import events as ev
from tidal_schema.messages import ErrorCode, ErrorReply, TimerKind

from ..mutation import Mutation, activity_timer_keys
from ..retry import next_retry_delay
from ..state import ActivityInfo, MutableState


def current_attempt(state: MutableState | None, scheduled_event_id: int, attempt: int) -> ActivityInfo | None:
    """The activity if `attempt` is its current attempt of a running run; None means the message
    is stale (an older attempt, a finished activity, a closed run)."""
    if state is None or not state.is_running:
        return None
    info = state.activities.get(scheduled_event_id)
    if info is None or info.attempt != attempt:
        return None
    return info


def not_found() -> ErrorReply:
    """What a requester (the frontend, for async completion) hears about a stale message; workers
    publish without reply_to, so they never see it."""
    return ErrorReply(
        code=ErrorCode.NOT_FOUND,
        message="activity not found: it completed, timed out, was retried or its run closed",
    )


def clear_activity_timers(m: Mutation, info: ActivityInfo) -> None:
    for key in activity_timer_keys(m.state.run_id, info):
        m.delete_timer(key)


def fail_attempt(
    m: Mutation, info: ActivityInfo, failure: Failure, *, timed_out: bool, identity: str = ""
) -> None:
    """Retry per the activity's policy, or record the final failure for the workflow. An activity
    whose cancellation was requested is not retried: the workflow wants it to stop."""
    for key in activity_timer_keys(m.state.run_id, info, attempt_only=True):
        m.delete_timer(key)
    if identity:
        info.last_worker_identity = identity
    expiration = (
        info.scheduled_time + info.schedule_to_close_timeout
        if info.schedule_to_close_timeout is not None
        else None
    )
    delay = None
    if not info.cancel_requested:
        delay = next_retry_delay(
            info.retry_policy, attempt=info.attempt, failure=failure, now=m.now, expiration=expiration
        )
    if delay is not None:
        info.attempt += 1
        info.last_failure = failure
        info.last_attempt_complete_time = m.now
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
    if info.cancel_requested:
        retry_state = "CancelRequested"
    elif timed_out:
        retry_state = "Timeout"
    elif failure.non_retryable or failure.type in info.retry_policy.non_retryable_error_types:
        retry_state = "NonRetryableFailure"
    else:
        retry_state = "MaximumAttemptsReached"
    outcome: ev.EventAttributes
    if timed_out:
        outcome = ev.ActivityTaskTimedOut(
            failure=failure,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=0,
            retry_state=retry_state,
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
