"""The RequestCancelActivityTask command of a workflow task: record ActivityTaskCancelRequested;
an activity waiting for its retry backoff is cancelled at once, a dispatched attempt learns it on
its next heartbeat (docs/activities.md)."""

from __future__ import annotations

from tidal_schema import commands as cmd
from tidal_schema import events as ev

from ..mutation import Mutation
from .activity_common import clear_activity_timers


def apply(m: Mutation, c: cmd.RequestCancelActivityTask, completed_id: int) -> bool:
    """Returns True when the activity was cancelled at once (the workflow needs a new task)."""
    st = m.state
    info = st.activities.get(c.scheduled_event_id)
    if info is None:
        # Finished already: its outcome is in history or buffered, and the workflow will see it.
        return False
    m.add_event(
        ev.ActivityTaskCancelRequested(
            scheduled_event_id=c.scheduled_event_id, workflow_task_completed_event_id=completed_id
        )
    )
    if info.current_attempt_scheduled_time > m.now:  # between attempts: nothing is running
        del st.activities[info.scheduled_event_id]
        clear_activity_timers(m, info)
        m.add_event(ev.ActivityTaskCanceled(scheduled_event_id=info.scheduled_event_id))
        return True
    info.cancel_requested = True
    return False
