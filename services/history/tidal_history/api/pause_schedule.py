"""PauseSchedule: pause or unpause with a note. Ticks keep coming while paused; their actions
are not taken (and not counted missed); trigger and backfill still act."""

from __future__ import annotations

from datetime import datetime

from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, PauseSchedule
from tidal_schema.schedule_document import ScheduleDocument

from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(doc: ScheduleDocument | None, msg: PauseSchedule, *, now: datetime) -> ScheduleOutcome:
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    doc.paused = msg.paused
    doc.note = msg.note or ("paused" if msg.paused else "unpaused")
    m.changed_by_client()
    return m.finish(AckReply())
