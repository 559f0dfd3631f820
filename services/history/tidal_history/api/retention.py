"""FireTimer(kind=RETENTION): a closed run's retention check. If the namespace's retention (as
configured now) has passed since the close, the run is purged: its executions row, its
current_executions row (if it still points at it), its events and timers go in the batch's
transaction. Otherwise the check re-arms for close_time + retention (the namespace's retention
was raised, or this was the first check after one day)."""

from __future__ import annotations

from tidal_schema.messages import FireTimer, TimerKind

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext, OperationError


def handle(ctx: OperationContext, msg: FireTimer) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    if ctx.retention is None:
        raise OperationError("a retention check needs the namespace's retention")
    if state.is_running or state.close_time is None:
        return unchanged()  # cannot happen for a retention timer; never purge a running run
    due = state.close_time + ctx.retention
    if due <= now:
        return Outcome(state=state, changed=True, purge=True)
    m = Mutation(state, history, now=now)
    m.delete_timer(msg.key)  # deleted before the new row is inserted: same key, later fire_at
    m.set_timer(TimerKind.RETENTION, fire_at=due)
    return m.finish()
