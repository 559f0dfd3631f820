"""What a run's code reads about its current workflow task, the same on the first run and on
replay: `workflow.now()` (the time the task started) and the history length and size
`workflow.info()` reports.

History records them on each `WorkflowTaskStarted` (`started_time`, `history_size_bytes`,
`suggest_continue_as_new`); a new task brings them on the task itself. Histories from before
`started_time` was recorded replay with the task's scheduled time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tidal_schema.events import HistoryEvent
from tidal_schema.messages import WorkflowTask

__all__ = ["TaskClock"]


class TaskClock:
    def __init__(self) -> None:
        self.now = datetime.fromtimestamp(0, UTC)
        self.history_length = 0  # as of the current activation's WorkflowTaskScheduled
        self.history_size = 0
        self.continue_as_new_suggested = False
        self._times: dict[int, datetime] = {}  # scheduled event id -> the task's time
        self._started_sizes: dict[int, tuple[int, bool]] = {}
        self._new_size: tuple[int, bool] = (0, False)
        self._new_started: datetime | None = None  # when this worker took the new task

    def new_task(self, task: WorkflowTask) -> None:
        self._new_size = (task.history_size_bytes, task.suggest_continue_as_new)
        self._new_started = task.started_time

    def record(self, ev: HistoryEvent) -> None:
        """A `WorkflowTaskScheduled` or `WorkflowTaskStarted` walked over."""
        a = ev.attributes
        if a.type == "WorkflowTaskScheduled":
            self._times[ev.event_id] = ev.event_time
        elif a.type == "WorkflowTaskStarted":
            self._started_sizes[a.scheduled_event_id] = (a.history_size_bytes, a.suggest_continue_as_new)
            if a.started_time is not None:  # older histories: the scheduled time stays
                self._times[a.scheduled_event_id] = a.started_time

    def begin(self, ev: HistoryEvent, *, scheduled_event_id: int, replaying: bool) -> datetime:
        """The activation of task `scheduled_event_id` starts (`ev`: its triggering event):
        returns its `now`, as Temporal's, the time the task started: on a first run when this
        worker took it, on replay what its WorkflowTaskStarted recorded."""
        t = self._times.get(scheduled_event_id, ev.event_time)
        if not replaying and self._new_started is not None:
            t = self._new_started
        self.now = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
        self.history_length = scheduled_event_id
        if replaying:
            size = self._started_sizes.pop(scheduled_event_id, (0, False))
        else:
            size = self._new_size
        self.history_size, self.continue_as_new_suggested = size
        self._times = {k: v for k, v in self._times.items() if k > scheduled_event_id}
        return self.now
