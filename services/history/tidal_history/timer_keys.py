"""Timer row keys: one per (run, kind, timer id, event id, attempt), so a fire from an earlier
attempt or an earlier streak of failures is told apart from the current one and found stale."""

from __future__ import annotations

from tidal_schema.messages import TimerKind

from .state import ActivityInfo, MutableState, WorkflowTaskInfo

__all__ = ["activity_timer_keys", "timer_key", "wft_retry_key", "wft_timeout_key"]


def timer_key(
    run_id: str,
    kind: TimerKind,
    *,
    timer_id: str | None = None,
    scheduled_event_id: int | None = None,
    attempt: int | None = None,
) -> str:
    parts = [run_id, kind.value]
    if timer_id is not None:
        parts.append(f"t={timer_id}")
    if scheduled_event_id is not None:
        parts.append(f"e={scheduled_event_id}")
    if attempt is not None:
        parts.append(f"a={attempt}")
    return "/".join(parts)


def wft_timeout_key(run_id: str, wft: WorkflowTaskInfo) -> str:
    return timer_key(
        run_id,
        TimerKind.WORKFLOW_TASK_TIMEOUT,
        timer_id=wft.timer_id,
        scheduled_event_id=wft.scheduled_event_id,
        attempt=wft.attempt,
    )


def wft_retry_key(state: MutableState) -> str:
    return timer_key(
        state.run_id,
        TimerKind.WORKFLOW_TASK_RETRY,
        scheduled_event_id=state.wft_retry_event_id,
        attempt=state.wft_retry_attempt,
    )


def activity_timer_keys(run_id: str, info: ActivityInfo, *, attempt_only: bool = False) -> list[str]:
    """The timer rows an activity may have: its current attempt's, and (unless `attempt_only`)
    the whole activity's schedule-to-close timeout."""
    e, a = info.scheduled_event_id, info.attempt
    keys = [
        timer_key(run_id, TimerKind.ACTIVITY_TIMEOUT, scheduled_event_id=e, attempt=a),
        timer_key(run_id, TimerKind.ACTIVITY_RETRY, scheduled_event_id=e, attempt=a),
    ]
    if info.schedule_to_start_timeout is not None:
        keys.append(timer_key(run_id, TimerKind.ACTIVITY_SCHEDULE_TO_START, scheduled_event_id=e, attempt=a))
    if info.heartbeat_timer_seq:
        keys.append(
            timer_key(
                run_id,
                TimerKind.ACTIVITY_HEARTBEAT,
                timer_id=str(info.heartbeat_timer_seq),
                scheduled_event_id=e,
                attempt=a,
            )
        )
    if not attempt_only and info.schedule_to_close_timeout is not None:
        keys.append(timer_key(run_id, TimerKind.ACTIVITY_TIMEOUT, scheduled_event_id=e))
    return keys
