"""CompleteActivityTask: the result of the current attempt; anything else is a stale duplicate.
From a worker there is no reply; through the frontend (async completion) the reply says whether
it counted. A result may carry the next workflow task's completion (the fused completion,
api/fused_completion.py): applied in the same transaction when history accepts it, else ignored."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, CompleteActivityTask

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from . import fused_completion
from .activity_common import clear_activity_timers, current_attempt, not_found
from .complete_workflow_task import with_next_event_id


def handle(ctx: OperationContext, msg: CompleteActivityTask) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None:
        return unchanged(not_found())
    fused = fused_completion.accepted(state, info, msg)  # before anything is written
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
    if fused is None:
        return m.finish()
    fused_completion.apply(m, info, fused)
    return with_next_event_id(m.finish())
