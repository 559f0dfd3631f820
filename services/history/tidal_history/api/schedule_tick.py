"""A schedule's tick fired (FireTimer kind `schedule`): take what is due, arm the next tick. A fire
for another incarnation or another nominal time than the armed one is stale (a duplicate, a
relayed timer, a tick of a deleted or updated schedule) and changes nothing."""

from __future__ import annotations

from tidal_schema.messages import FireTimer
from tidal_schema.schedule_document import format_nominal

from ..operation import OperationContext
from ..schedule_mutation import ScheduleMutation, ScheduleOutcome, unchanged

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: FireTimer) -> ScheduleOutcome:
    doc, now = ctx.schedule, ctx.now
    if doc is None or doc.incarnation != msg.run_id or doc.armed_tick is None:
        return unchanged()
    if format_nominal(doc.armed_tick) != msg.timer_id:
        return unchanged()
    m = ScheduleMutation(doc, now=now)
    # The armed tick's row is this fire's: it goes, whatever comes next.
    m.delete_timer(msg.key)
    doc.armed_tick = None
    m.process_due()
    m.arm_next_tick()
    return m.finish()
