"""FireTimer from the timer service. Every kind checks that what the timer was set for is still
pending (same attempt); otherwise the fire is stale and changes nothing: whatever made it stale
(a completion, a retry, a close) already deleted its row, so a stale fire costs no write."""

from __future__ import annotations

from tidal_schema import Failure, TimeoutType, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import FireTimer, TimerKind

from .. import updates
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from . import cron_runs
from .activity_common import fail_attempt
from .fire_activity_timer import fire_heartbeat, fire_schedule_to_start


def handle(ctx: OperationContext, msg: FireTimer) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    m = Mutation(state, history, now=now)
    if not state.is_running or not _fire(m, msg):
        return unchanged()
    m.delete_timer(msg.key)
    return m.finish()


def _fire(m: Mutation, msg: FireTimer) -> bool:
    """Apply the fire if what it was set for is still pending; False when it is stale."""
    st = m.state
    if msg.kind is TimerKind.USER_TIMER:
        timer = st.timers.get(msg.timer_id or "")
        if timer is None or timer.started_event_id != msg.scheduled_event_id:
            return False
        del st.timers[timer.timer_id]
        m.record_external(ev.TimerFired(timer_id=timer.timer_id, started_event_id=timer.started_event_id))
        return True
    if msg.kind is TimerKind.ACTIVITY_RETRY:
        info = st.activities.get(msg.scheduled_event_id or 0)
        if info is None or info.attempt != msg.attempt or info.dispatched_attempt >= info.attempt:
            return False  # an older attempt's, or this attempt's again (already dispatched)
        m.dispatch_activity(info)
        return True
    if msg.kind is TimerKind.ACTIVITY_TIMEOUT:
        info = st.activities.get(msg.scheduled_event_id or 0)
        if info is None:
            return False
        if msg.attempt is None:  # schedule-to-close: the whole activity is out of time
            fail_attempt(m, info, _timeout(TimeoutType.SCHEDULE_TO_CLOSE, non_retryable=True), timed_out=True)
            return True
        if info.attempt != msg.attempt:
            return False
        fail_attempt(m, info, _timeout(TimeoutType.START_TO_CLOSE), timed_out=True)
        return True
    if msg.kind is TimerKind.ACTIVITY_HEARTBEAT:
        return fire_heartbeat(m, msg)
    if msg.kind is TimerKind.ACTIVITY_SCHEDULE_TO_START:
        return fire_schedule_to_start(m, msg)
    if msg.kind is TimerKind.WORKFLOW_TASK_TIMEOUT:
        wft = st.workflow_task
        if (
            wft is None
            or wft.scheduled_event_id != msg.scheduled_event_id
            or wft.attempt != msg.attempt
            or wft.timer_id != msg.timer_id  # speculative tasks can share an event id
        ):
            return False
        updates.materialize(m)  # a speculative task that timed out is written like any other
        _, started_id = m.end_workflow_task()
        m.add_event(
            ev.WorkflowTaskTimedOut(scheduled_event_id=wft.scheduled_event_id, started_event_id=started_id)
        )
        st.workflow_task = None
        st.sticky_queue = None  # the sticky worker may be gone: back to the shared queue
        m.flush_buffered()
        m.schedule_workflow_task(attempt=wft.attempt + 1)
        return True
    if msg.kind is TimerKind.WORKFLOW_TASK_RETRY:
        if (
            st.workflow_task is not None
            or st.wft_retry_attempt != msg.attempt
            or st.wft_retry_event_id != msg.scheduled_event_id  # from an earlier streak of failures
        ):
            return False
        m.schedule_workflow_task(attempt=msg.attempt or 1)
        return True
    if msg.kind is TimerKind.WORKFLOW_RUN_TIMEOUT:
        cron_runs.close(
            m,
            WorkflowExecutionStatus.TIMED_OUT,
            lambda new_run_id: ev.WorkflowExecutionTimedOut(new_execution_run_id=new_run_id),
            failure=Failure(
                message="workflow run timeout",
                type="TimeoutError",
                kind="timeout",
                timeout_type=TimeoutType.START_TO_CLOSE.value,
                source="Server",
            ),
        )
        return True
    return False


def _timeout(kind: TimeoutType, *, non_retryable: bool = False) -> Failure:
    return Failure(
        message=f"activity {kind.value} timeout",
        source="Server",
        type="TimeoutError",
        kind="timeout",
        timeout_type=kind.value,
        non_retryable=non_retryable,
    )
