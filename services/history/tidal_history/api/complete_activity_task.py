"""CompleteActivityTask: the result of the current attempt; anything else is a stale duplicate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent
from tidal_schema import events as ev
from tidal_schema.messages import CompleteActivityTask

from ..mutation import Mutation, Outcome, unchanged
from ..state import MutableState
from .activity_common import clear_activity_timers


def handle(
    state: MutableState, history: Sequence[HistoryEvent], msg: CompleteActivityTask, *, now: datetime
) -> Outcome:
    info = state.activities.get(msg.scheduled_event_id)
    if not state.is_running or info is None or info.attempt != msg.attempt:
        return unchanged()
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
    return m.finish()
