"""ScheduledWorkflowClosed: a run the schedule started closed. It leaves the running set, buffered
starts may go now, and with `pause_on_failure` a failed or timed-out run pauses the schedule."""

from __future__ import annotations

from tidal_schema import WorkflowExecutionStatus
from tidal_schema.messages import ScheduledWorkflowClosed

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]

_FAILED = (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT)


def handle(ctx: OperationContext, msg: ScheduledWorkflowClosed) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None or doc.incarnation != msg.incarnation:
        return unchanged()
    running = next((r for r in doc.running if r.workflow_id == msg.started_workflow_id), None)
    if running is None:
        return unchanged()  # a duplicate notice, or a run that was already forgotten
    m = ScheduleMutation(doc, now=now)
    doc.running.remove(running)
    doc.last_close_status = msg.status
    for a in doc.recent_actions:
        if a.workflow_id == msg.started_workflow_id and not a.run_id:
            a.run_id = msg.run_id
    m.count_run_closed(
        completed=msg.status is WorkflowExecutionStatus.COMPLETED, failed=msg.status in _FAILED
    )
    if doc.policies.pause_on_failure and msg.status in _FAILED:
        doc.paused = True
        doc.note = f"paused: workflow {msg.started_workflow_id} {msg.status.value.lower()}"
    m.drain_buffer()
    return m.finish()
