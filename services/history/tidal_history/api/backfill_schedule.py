"""BackfillSchedule: the actions the spec would have taken in each time range, taken now under the
range's overlap policy (default the schedule's). Bounded: a backfill that would take more than
MAX_BACKFILL_ACTIONS actions is refused whole, naming the count."""

from __future__ import annotations

from datetime import timedelta

from tidal_schema.messages import AckReply, BackfillSchedule, ErrorCode, ErrorReply
from tidal_schema.schedule_document import MAX_BACKFILL_ACTIONS, ScheduleOverlapPolicy
from tidal_schema.schedule_times import ActionTime, action_times_between

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]

_EPSILON = timedelta(microseconds=1)


def handle(ctx: OperationContext, msg: BackfillSchedule) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    m = ScheduleMutation(doc, now=now)
    if m.already_applied(msg.request_id):
        return unchanged(AckReply())
    planned: list[tuple[ActionTime, ScheduleOverlapPolicy]] = []
    for i, r in enumerate(msg.backfills):
        if r.end_at < r.start_at:
            return unchanged(
                ErrorReply(
                    code=ErrorCode.INVALID_ARGUMENT, message=f"backfills.{i}.end_at is before start_at"
                )
            )
        left = MAX_BACKFILL_ACTIONS - len(planned)
        # The range is inclusive of its start (Temporal's backfill), the engine's of its end only.
        times = action_times_between(
            doc.spec, start=r.start_at - _EPSILON, end=r.end_at, schedule_id=doc.schedule_id, limit=left + 1
        )
        if len(times) > left:
            return unchanged(
                ErrorReply(
                    code=ErrorCode.INVALID_ARGUMENT,
                    message=(
                        f"backfills: more than {MAX_BACKFILL_ACTIONS} actions in the ranges; "
                        "backfill less at once"
                    ),
                )
            )
        planned += [(t, r.overlap or doc.policies.overlap) for t in times]
    m.note_applied(msg.request_id)
    for t, overlap in planned:
        m.take_action(t.nominal, t.actual, overlap, manual=True, request_id=msg.request_id)
    return m.finish(AckReply())
