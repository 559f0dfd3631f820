"""CreateSchedule: a new schedule on this shard, its first tick armed. An existing id is refused
(`already_started`, the frontend's 409), unless it is the same create retried (same request id)."""

from __future__ import annotations

from tidal_schema.messages import AckReply, CreateSchedule, ErrorCode, ErrorReply
from tidal_schema.schedule_document import ScheduleDocument
from tidal_schema.schedule_times import ScheduleSpecError, check_spec

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: CreateSchedule) -> ScheduleOutcome:
    doc = ctx.schedule
    incarnation = ctx.new_run_id
    shard_id = ctx.shard_id
    now = ctx.now
    if doc is not None:
        if doc.create_request_id == msg.request_id:
            return unchanged(AckReply())
        return unchanged(
            ErrorReply(code=ErrorCode.ALREADY_STARTED, message=f"schedule {msg.schedule_id!r} already exists")
        )
    try:
        check_spec(msg.spec)
    except ScheduleSpecError as exc:
        return unchanged(ErrorReply(code=ErrorCode.INVALID_ARGUMENT, message=str(exc)))
    doc = ScheduleDocument(
        namespace=msg.namespace,
        schedule_id=msg.schedule_id,
        incarnation=incarnation,
        shard_id=shard_id,
        create_request_id=msg.request_id,
        spec=dict(msg.spec),
        action=msg.action,
        policies=msg.policies,
        paused=msg.state.paused,
        note=msg.state.note,
        limited_actions=msg.state.limited_actions,
        remaining_actions=msg.state.remaining_actions,
        memo=dict(msg.memo),
        created_at=now,
        processed_until=now,
    )
    m = ScheduleMutation(doc, now=now, created=True)
    m.set_search_attributes(msg.search_attributes)
    m.arm_next_tick()
    return m.finish(AckReply())
