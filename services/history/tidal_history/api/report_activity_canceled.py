"""ReportActivityTaskCanceled: the attempt stopped on a cancellation request; the workflow sees
ActivityTaskCanceled (with ActivityTaskStarted before it, as for every outcome)."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ReportActivityTaskCanceled

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from .activity_common import clear_activity_timers, current_attempt, not_found


def handle(ctx: OperationContext, msg: ReportActivityTaskCanceled) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None:
        return unchanged(not_found())
    m = Mutation(state, history, now=now)
    del state.activities[msg.scheduled_event_id]
    clear_activity_timers(m, info)
    m.record_activity_outcome(
        info, ev.ActivityTaskCanceled(details=msg.details, scheduled_event_id=info.scheduled_event_id)
    )
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
