"""The activity timers added with the activity model: heartbeat and schedule-to-start timeouts
(the start-to-close and schedule-to-close ones are in fire_timer.py)."""

from __future__ import annotations

from tidal_schema import Failure, TimeoutType
from tidal_schema.messages import FireTimer

from ..mutation import Mutation
from .activity_common import current_attempt, fail_attempt


def fire_heartbeat(m: Mutation, msg: FireTimer) -> bool:
    info = current_attempt(m.state, msg.scheduled_event_id or 0, msg.attempt or 0)
    if info is None or info.heartbeat_timeout is None or msg.timer_id != str(info.heartbeat_timer_seq):
        return False
    base = info.last_heartbeat_time or info.current_attempt_scheduled_time
    deadline = base + info.heartbeat_timeout
    if deadline > m.now:
        # A heartbeat came since the timer was armed: wait for that heartbeat's deadline instead.
        m.arm_heartbeat_timer(info, deadline)
        return True
    failure = _timeout(TimeoutType.HEARTBEAT).model_copy(update={"details": info.heartbeat_details})
    fail_attempt(m, info, failure, timed_out=True)
    return True


def fire_schedule_to_start(m: Mutation, msg: FireTimer) -> bool:
    info = current_attempt(m.state, msg.scheduled_event_id or 0, msg.attempt or 0)
    if info is None or info.started_attempt == info.attempt:
        return False
    # Not retried (as in Temporal): another attempt would wait in the same queue.
    fail_attempt(m, info, _timeout(TimeoutType.SCHEDULE_TO_START, non_retryable=True), timed_out=True)
    return True


def _timeout(kind: TimeoutType, *, non_retryable: bool = False) -> Failure:
    return Failure(
        message=f"activity {kind.value} timeout",
        source="Server",
        type="TimeoutError",
        kind="timeout",
        timeout_type=kind.value,
        non_retryable=non_retryable,
    )
