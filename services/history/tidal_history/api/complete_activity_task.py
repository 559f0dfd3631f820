"""CompleteActivityTask: the result of the current attempt; anything else is a stale duplicate.
From a worker there is no reply; through the frontend (async completion) the reply says whether
it counted."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, CompleteActivityTask

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from .activity_common import clear_activity_timers, current_attempt, not_found


def handle(ctx: OperationContext, msg: CompleteActivityTask) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None:
        return unchanged(not_found())
    m = Mutation(state, history, now=now)
    del state.activities[msg.scheduled_event_id]
    clear_activity_timers(m, info)
    m.record_activity_outcome(
        info,
        ev.ActivityTaskCompleted(
            result=msg.result,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=0,
            identity=msg.identity,
        ),
    )
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
