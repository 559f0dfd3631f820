"""Which activities a workflow task completion gets handed straight back (Temporal's eager
activity execution, DESIGN.md §7).

A worker with free activity slots marks ScheduleActivityTask commands `request_eager_execution`;
history honours at most `MAX_PER_TASK` of them per completion, only for the run's own task queue
(the queue the completing worker polls) and only when the completion named the worker's sticky
queue. Such an attempt is dispatched to that queue instead of matching (direct.py), and the
worker's identity is recorded on the attempt in the same transaction, so the activity's
ActivityTaskStarted names it. Everything else is as for any attempt: its start-to-close timer is
set in that transaction, so if the worker dies holding it (its exclusive queue and the task go
with it) the timeout fires and the retry goes through matching, as in Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidal_schema import commands as cmd
from tidal_schema import names
from tidal_schema.messages import CompleteWorkflowTask

from ..state import MutableState

__all__ = ["MAX_PER_TASK", "EagerSlots"]

MAX_PER_TASK = 3
"""Temporal's default bound per workflow task (the worker asks for no more either)."""


@dataclass(kw_only=True)
class EagerSlots:
    """The eager dispatches one completion may still make."""

    worker_queue: str | None
    identity: str
    left: int = MAX_PER_TASK

    @classmethod
    def of(cls, msg: CompleteWorkflowTask) -> EagerSlots:
        queue = msg.sticky_queue if msg.sticky_queue and names.is_sticky_queue(msg.sticky_queue) else None
        return cls(worker_queue=queue, identity=msg.identity)

    def take(self, state: MutableState, c: cmd.ScheduleActivityTask, task_queue: str) -> str | None:
        """The worker queue to hand this activity to, or None (through matching)."""
        if not c.request_eager_execution or self.worker_queue is None or self.left <= 0:
            return None
        if task_queue != state.task_queue:
            return None  # another task queue's workers may run it; the completing one may not
        self.left -= 1
        return self.worker_queue
