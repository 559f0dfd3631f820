"""UpdateSchedule: replace spec, action, policies and state, and the schedule's own search
attributes when the update names them (read-modify-write). A conflict token
other than the schedule's is refused (`conflict`: it changed since the client read it). Due times
are counted from now: an update never takes actions the old spec missed."""

from __future__ import annotations

from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, UpdateSchedule
from tidal_schema.schedule_times import ScheduleSpecError, check_spec

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: UpdateSchedule) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None:
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"schedule {msg.schedule_id!r} not found")
        )
    if msg.conflict_token is not None and msg.conflict_token != doc.conflict_token:
        return unchanged(
            ErrorReply(
                code=ErrorCode.CONFLICT,
                message=(
                    f"schedule {msg.schedule_id!r} changed since it was read (conflict token "
                    f"{msg.conflict_token}, now {doc.conflict_token}); describe it and update again"
                ),
            )
        )
    try:
        check_spec(msg.spec)
    except ScheduleSpecError as exc:
        return unchanged(ErrorReply(code=ErrorCode.INVALID_ARGUMENT, message=str(exc)))
    m = ScheduleMutation(doc, now=now)
    doc.spec = dict(msg.spec)
    doc.action = msg.action
    doc.policies = msg.policies
    doc.paused = msg.state.paused
    doc.note = msg.state.note
    doc.limited_actions = msg.state.limited_actions
    doc.remaining_actions = msg.state.remaining_actions
    if msg.search_attributes is not None:
        m.set_search_attributes(msg.search_attributes)
    doc.processed_until = max(doc.processed_until, now)
    m.changed_by_client()
    m.arm_next_tick()
    return m.finish(AckReply())
