"""TriggerSchedule: one action now, under the given overlap policy (default the schedule's), even
while paused. A trigger retried with its request id is applied once."""

from __future__ import annotations

from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, TriggerSchedule

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: TriggerSchedule) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    if m.already_applied(msg.request_id):
        return unchanged(AckReply())
    m.note_applied(msg.request_id)
    nominal = now.replace(microsecond=0)
    m.take_action(nominal, now, msg.overlap or doc.policies.overlap, manual=True, request_id=msg.request_id)
    return m.finish(AckReply())
