"""DeleteSchedule: the schedule and its armed tick go; runs it started keep running (their close
notices then find no schedule and change nothing)."""

from __future__ import annotations

from tidal_schema.messages import AckReply, DeleteSchedule, ErrorCode, ErrorReply

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, schedule_tick_key, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: DeleteSchedule) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    if doc.armed_tick is not None:
        m.delete_timer(schedule_tick_key(doc, doc.armed_tick))
    return m.finish(AckReply(), deleted=True)
