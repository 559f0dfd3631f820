"""PauseSchedule: pause or unpause with a note. Ticks keep coming while paused; their actions
are not taken (and not counted missed); trigger and backfill still act."""

from __future__ import annotations

from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, PauseSchedule

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: PauseSchedule) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    doc.paused = msg.paused
    doc.note = msg.note or ("paused" if msg.paused else "unpaused")
    m.changed_by_client()
    return m.finish(AckReply())
