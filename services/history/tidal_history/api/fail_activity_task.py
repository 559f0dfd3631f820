"""FailActivityTask: the current attempt failed; retry with backoff or fail the activity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent
from tidal_schema.messages import FailActivityTask

from ..mutation import Mutation, Outcome, unchanged
from ..state import MutableState
from .activity_common import fail_attempt


def handle(
    state: MutableState, history: Sequence[HistoryEvent], msg: FailActivityTask, *, now: datetime
) -> Outcome:
    info = state.activities.get(msg.scheduled_event_id)
    if not state.is_running or info is None or info.attempt != msg.attempt:
        return unchanged()
    m = Mutation(state, history, now=now)
    fail_attempt(m, info, msg.failure, timed_out=False, identity=msg.identity)
    return m.finish()
