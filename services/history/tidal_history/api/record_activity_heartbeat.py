"""RecordActivityTaskHeartbeat: keep the details for the next attempt, note the time for the
heartbeat timeout, and tell the worker whether to stop (cancel requested, or attempt gone).
Details over the blob size limit fail the attempt for good instead, as Temporal does, and the
worker is told the attempt is gone (it cancels it)."""

from __future__ import annotations

from tidal_schema import sizes
from tidal_schema.messages import ActivityHeartbeatReply, RecordActivityTaskHeartbeat

from ..limits import heartbeat_details_failure
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from .activity_common import current_attempt, fail_attempt
from .record_activity_started import mark_started


def handle(ctx: OperationContext, msg: RecordActivityTaskHeartbeat) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None:
        return unchanged(ActivityHeartbeatReply(activity_gone=True))
    m = Mutation(state, history, now=now)
    size = sizes.payloads_size(msg.details)
    if size > ctx.blob_size:
        failure = heartbeat_details_failure(size, ctx.blob_size)
        fail_attempt(m, info, failure, timed_out=False, identity=msg.identity)
        m.reply = ActivityHeartbeatReply(activity_gone=True)
        return m.finish()
    info.heartbeat_details = msg.details
    info.last_heartbeat_time = now
    mark_started(m, info, identity=msg.identity)
    m.reply = ActivityHeartbeatReply(cancel_requested=info.cancel_requested)
    return m.finish()
