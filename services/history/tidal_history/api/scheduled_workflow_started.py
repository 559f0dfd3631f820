"""ScheduledWorkflowStarted: the target shard's answer to a schedule's start. The run id goes into
the recent action and the running entry; a start that was refused (the id is taken) leaves the
running set, so overlap policies do not wait for a run that never started."""

from __future__ import annotations

from tidal_schema.messages import ScheduledWorkflowStarted

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: ScheduledWorkflowStarted) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None or doc.incarnation != msg.incarnation:
        return unchanged()
    running = next((r for r in doc.running if r.workflow_id == msg.started_workflow_id), None)
    action = next(
        (
            a
            for a in reversed(doc.recent_actions)
            if a.workflow_id == msg.started_workflow_id and a.nominal_time == msg.nominal_time
        ),
        None,
    )
    if msg.error or not msg.running:
        if running is None and (action is None or action.failed_to_start):
            return unchanged()  # a duplicate answer
        m = ScheduleMutation(doc, now=now)
        if running is not None:
            doc.running.remove(running)
        if msg.error:
            m.count_run_closed(completed=False, failed=True)
        if action is not None:
            action.failed_to_start = msg.error
            action.run_id = action.run_id or msg.run_id
        m.drain_buffer()
        return m.finish()
    if (running is None or running.run_id == msg.run_id) and (action is None or action.run_id == msg.run_id):
        return unchanged()
    m = ScheduleMutation(doc, now=now)
    if running is not None:
        running.run_id = msg.run_id
    if action is not None:
        action.run_id = msg.run_id
    return m.finish()
