"""Where a run's instance stands in its history, and what each event asks of it.

Events are walked in order: events the server writes on its own (activity results, timer fires,
signals...) wait as *jobs* for the next activation; each `WorkflowTaskCompleted` of a task the
instance has not run yet triggers a replay activation; command events must match, in order, the
commands the code produced (*unconfirmed* until then); the task's own `WorkflowTaskScheduled`
(always the last event) triggers the new activation. Running the code is the instance's job
(the `activate` callback); this module only decides when and with which inputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from tidal_schema import events
from tidal_schema.commands import Command, ProtocolMessage
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import UpdateRequest, WorkflowTask

from . import local_activities, matching, update
from .activities import Activities
from .children import Children
from .errors import StaleInstanceError
from .local_activities import LocalActivities
from .patches import Patches, patch_ids_ahead
from .task_clock import TaskClock

__all__ = ["Activate", "HistoryWalk"]


class Activate(Protocol):
    def __call__(
        self, ev: HistoryEvent, *, replaying: bool, scheduled_event_id: int, upto: int
    ) -> list[Command]: ...


class HistoryWalk:
    def __init__(
        self,
        *,
        clock: TaskClock,
        activities: Activities,
        children: Children,
        local_activities: LocalActivities,
        patches: Patches,
        activate: Activate,
    ) -> None:
        self.last_event_id = 0
        self.activated_upto = 0  # scheduled event id of the last task the instance ran
        self._clock = clock
        self._activities = activities
        self._children = children
        self._local_activities = local_activities
        self._patches = patches
        self._activate = activate
        self._jobs: list[HistoryEvent] = []
        self._unconfirmed: deque[Command] = deque()
        self._replay_updates: tuple[UpdateRequest, ...] = ()  # accepted in the task being replayed

    def task_events(self, task: WorkflowTask) -> tuple[HistoryEvent, ...] | None:
        """The events of `task` the instance has not seen yet; None when the task is a redelivered
        copy of the one it just ran (delivery is at least once: answer it the same way instead
        of running the code twice). Raises StaleInstanceError when the instance cannot apply it."""
        evs = tuple(e for e in task.events if e.event_id > self.last_event_id)
        if task.scheduled_event_id <= self.activated_upto:
            if task.scheduled_event_id == self.activated_upto and not evs:
                return None
            # The same task again with inputs history wrote before it started, which the
            # instance's activation did not see (api/complete_workflow_task.py in history).
            raise StaleInstanceError(f"task {task.scheduled_event_id} came again with more events")
        if not evs or evs[0].event_id != self.last_event_id + 1:
            got = evs[0].event_id if evs else None
            raise StaleInstanceError(f"task events start at {got}, instance expects {self.last_event_id + 1}")
        if not _task_shape_ok(evs, task.scheduled_event_id):
            raise StaleInstanceError(
                f"task must hold its WorkflowTaskScheduled {task.scheduled_event_id}, followed only "
                "by inputs written before it started"
            )
        return evs

    def walk(
        self, evs: Sequence[HistoryEvent], *, run_last: bool = True, task_scheduled: int = 0
    ) -> tuple[Command, ...]:
        """Walk `evs`; with `run_last` (a workflow task) the task `task_scheduled` is activated
        and its commands returned, without (a query's catch-up) nothing new runs."""
        for i, ev in enumerate(evs):
            a = ev.attributes
            self.last_event_id = ev.event_id
            if a.type in ("WorkflowTaskScheduled", "WorkflowTaskStarted"):
                self._clock.record(ev)
            elif a.type == "WorkflowTaskCompleted":
                if a.scheduled_event_id > self.activated_upto:
                    ahead = evs[i + 1 :]
                    self._patches.expect(patch_ids_ahead(ahead))
                    self._replay_updates = update.accepted_ahead(ahead)
                    self._local_activities.expect_markers(
                        local_activities.markers_ahead(ahead, matching.TASK_OUTPUT_EVENTS)
                    )
                    # Inputs written before the task started (up to its WorkflowTaskStarted) were
                    # part of its activation, as on the first run (the task carried them).
                    self._activate(
                        ev,
                        replaying=True,
                        scheduled_event_id=a.scheduled_event_id,
                        upto=a.started_event_id or a.scheduled_event_id,
                    )
            elif a.type in ("WorkflowTaskFailed", "WorkflowTaskTimedOut"):
                # A failed attempt's activation does not count, unless the instance ran it: then
                # its state is ahead of history and only a replay from scratch can recover.
                if a.scheduled_event_id == self.activated_upto:
                    raise StaleInstanceError(
                        f"workflow task {a.scheduled_event_id} run by this instance failed"
                    )
            elif a.type in matching.COMMAND_EVENTS:
                self._confirm(ev)
            elif a.type in matching.JOB_EVENTS:
                self._jobs.append(ev)
            # Anything else (ActivityTaskStarted, updates...) needs no action.
        if not run_last:
            return ()
        # The new activation: the task's WorkflowTaskScheduled and the inputs written after it
        # before it started (the task's last events).
        last = evs[-1]
        return tuple(
            self._activate(last, replaying=False, scheduled_event_id=task_scheduled, upto=last.event_id + 1)
        )

    def catch_up(self, evs: Sequence[HistoryEvent]) -> None:
        """Walk a whole history without running its pending task; a run whose first task has not
        completed yet gets that first activation anyway (a query then sees the initialised
        workflow rather than nothing)."""
        self.walk(evs, run_last=False)
        if self.activated_upto == 0:
            pending = [e for e in evs if e.event_type == "WorkflowTaskScheduled"]
            if pending:
                first = pending[-1]
                self._activate(first, replaying=True, scheduled_event_id=first.event_id, upto=first.event_id)

    def begin_activation(self, ev: HistoryEvent, scheduled_event_id: int) -> None:
        """An activation starts: every command of the previous one must have met its event."""
        if self._unconfirmed:
            raise matching.unmatched(list(self._unconfirmed), ev)
        self.activated_upto = scheduled_event_id

    def take_jobs(self, seen_below: int) -> list[HistoryEvent]:
        """The inputs an activation sees: those written before `seen_below` (jobs written after
        the task started wait for the next one)."""
        jobs = [j for j in self._jobs if j.event_id < seen_below]
        self._jobs = [j for j in self._jobs if j.event_id >= seen_below]
        return jobs

    def take_replay_updates(self) -> tuple[UpdateRequest, ...]:
        taken, self._replay_updates = self._replay_updates, ()
        return taken

    def expect(self, produced: Sequence[Command]) -> None:
        """Commands the code produced, to be matched by their events. Update protocol messages
        have no command events to match (a rejection has none at all)."""
        self._unconfirmed.extend(c for c in produced if not isinstance(c, ProtocolMessage))

    def _confirm(self, ev: HistoryEvent) -> None:
        head = self._unconfirmed[0] if self._unconfirmed else None
        if head is None or not matching.matches(ev, head):
            # A patch marker whose patched()/deprecate_patch() call was since removed is fine.
            if matching.patch_id(ev) is not None:
                return
            raise matching.mismatch(ev, head)
        self._unconfirmed.popleft()
        self._children.confirmed(ev, head)
        a = ev.attributes
        if isinstance(a, events.ActivityTaskScheduled):
            self._activities.scheduled(ev, a)


def _task_shape_ok(evs: Sequence[HistoryEvent], scheduled_event_id: int) -> bool:
    """The task's WorkflowTaskScheduled is among `evs`, and only inputs (jobs) follow it."""
    for i, ev in enumerate(evs):
        if ev.event_id == scheduled_event_id:
            return ev.event_type == "WorkflowTaskScheduled" and not any(
                e.event_type in matching.COMMAND_EVENTS or e.event_type.startswith("WorkflowTask")
                for e in evs[i + 1 :]
            )
    return False
