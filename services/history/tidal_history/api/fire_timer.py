"""FireTimer from the timer service. Every kind checks that what the timer was set for is still
pending (same attempt); otherwise the fire is stale and only its row is removed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import Failure, HistoryEvent, TimeoutType, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import FireTimer, TimerKind

from ..mutation import Mutation, Outcome
from ..state import MutableState
from .activity_common import fail_attempt


def handle(state: MutableState, history: Sequence[HistoryEvent], msg: FireTimer, *, now: datetime) -> Outcome:
    m = Mutation(state, history, now=now)
    m.delete_timer(msg.key)
    if state.is_running:
        _fire(m, msg)
    return m.finish()


def _fire(m: Mutation, msg: FireTimer) -> None:
    st = m.state
    if msg.kind is TimerKind.USER_TIMER:
        timer = st.timers.get(msg.timer_id or "")
        if timer is not None and timer.started_event_id == msg.scheduled_event_id:
            del st.timers[timer.timer_id]
            m.record_external(ev.TimerFired(timer_id=timer.timer_id, started_event_id=timer.started_event_id))
    elif msg.kind is TimerKind.ACTIVITY_RETRY:
        info = st.activities.get(msg.scheduled_event_id or 0)
        if info is not None and info.attempt == msg.attempt:
            m.dispatch_activity(info)
    elif msg.kind is TimerKind.ACTIVITY_TIMEOUT:
        info = st.activities.get(msg.scheduled_event_id or 0)
        if info is None:
            return
        if msg.attempt is None:  # schedule-to-close: the whole activity is out of time
            failure = _timeout(TimeoutType.SCHEDULE_TO_CLOSE, non_retryable=True)
            fail_attempt(m, info, failure, timed_out=True)
        elif info.attempt == msg.attempt:
            fail_attempt(m, info, _timeout(TimeoutType.START_TO_CLOSE), timed_out=True)
    elif msg.kind is TimerKind.WORKFLOW_TASK_TIMEOUT:
        wft = st.workflow_task
        if (
            wft is not None
            and wft.scheduled_event_id == msg.scheduled_event_id
            and wft.attempt == msg.attempt
        ):
            started_id = m.add_event(ev.WorkflowTaskStarted(scheduled_event_id=wft.scheduled_event_id))
            m.add_event(
                ev.WorkflowTaskTimedOut(
                    scheduled_event_id=wft.scheduled_event_id, started_event_id=started_id
                )
            )
            st.workflow_task = None
            st.sticky_queue = None  # the sticky worker may be gone: back to the shared queue
            m.flush_buffered()
            m.schedule_workflow_task(attempt=wft.attempt + 1)
    elif msg.kind is TimerKind.WORKFLOW_TASK_RETRY:
        if st.workflow_task is None:
            m.schedule_workflow_task(attempt=msg.attempt or 1)
    elif msg.kind is TimerKind.WORKFLOW_RUN_TIMEOUT:
        m.close(
            WorkflowExecutionStatus.TIMED_OUT,
            ev.WorkflowExecutionTimedOut(),
            failure=_timeout(TimeoutType.START_TO_CLOSE),
        )


def _timeout(kind: TimeoutType, *, non_retryable: bool = False) -> Failure:
    return Failure(
        message=f"activity {kind.value} timeout",
        type="TimeoutError",
        kind="timeout",
        timeout_type=kind.value,
        non_retryable=non_retryable,
    )
