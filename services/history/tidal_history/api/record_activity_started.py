"""RecordActivityTaskStarted: a worker took the attempt, so its schedule-to-start timeout no
longer applies. Writes no event (ActivityTaskStarted is written with the outcome)."""

from __future__ import annotations

from tidal_schema.messages import RecordActivityTaskStarted, TimerKind

from ..mutation import Mutation, Outcome, timer_key, unchanged
from ..operation import OperationContext
from ..state import ActivityInfo
from .activity_common import current_attempt


def handle(ctx: OperationContext, msg: RecordActivityTaskStarted) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    info = current_attempt(state, msg.scheduled_event_id, msg.attempt)
    if state is None or info is None or info.started_attempt == info.attempt:
        return unchanged()
    m = Mutation(state, history, now=now)
    mark_started(m, info, identity=msg.identity)
    return m.finish()


def mark_started(m: Mutation, info: ActivityInfo, *, identity: str) -> None:
    if identity:
        info.last_worker_identity = identity
    if info.started_attempt == info.attempt:
        return
    info.started_attempt = info.attempt
    info.last_started_time = m.now
    if info.schedule_to_start_timeout is not None:
        m.delete_timer(
            timer_key(
                m.state.run_id,
                TimerKind.ACTIVITY_SCHEDULE_TO_START,
                scheduled_event_id=info.scheduled_event_id,
                attempt=info.attempt,
            )
        )
