"""DeleteSchedule: the schedule and its armed tick go; runs it started keep running (their close
notices then find no schedule and change nothing)."""

from __future__ import annotations

from datetime import datetime

from tidal_schema.messages import AckReply, DeleteSchedule, ErrorCode, ErrorReply
from tidal_schema.schedule_document import ScheduleDocument

from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, schedule_tick_key, unchanged

__all__ = ["handle"]


def handle(doc: ScheduleDocument | None, msg: DeleteSchedule, *, now: datetime) -> ScheduleOutcome:
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    if doc.armed_tick is not None:
        m.delete_timer(schedule_tick_key(doc, doc.armed_tick))
    return m.finish(AckReply(), deleted=True)
