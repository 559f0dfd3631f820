"""FailActivityTask: the current attempt failed; retry with backoff or fail the activity."""

from __future__ import annotations

from tidal_schema.messages import AckReply, FailActivityTask

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from .activity_common import current_attempt, fail_attempt, not_found


def handle(ctx: OperationContext, msg: FailActivityTask) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None:
        return unchanged(not_found())
    m = Mutation(state, history, now=now)
    if msg.last_heartbeat_details is not None:
        info.heartbeat_details = msg.last_heartbeat_details
    fail_attempt(m, info, msg.failure, timed_out=False, identity=msg.identity)
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
