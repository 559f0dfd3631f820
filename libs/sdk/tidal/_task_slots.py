"""A worker's slot accounting: how many workflow tasks and activities it runs at once, the
workflow task slots an eager start reserves, and what is free for eager activities. The broker's
prefetch bounds what each queue delivers; these counts bound what runs, whatever queue brought it
(eager activities arrive on the sticky queue besides those the activity queue delivers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from ._rate_limit import Pacer

__all__ = ["TaskSlots"]


class TaskSlots:
    def __init__(
        self,
        *,
        max_workflow_tasks: int,
        max_activities: int,
        max_activities_per_second: float | None = None,
        eager_activities: bool = False,
    ) -> None:
        self.max_workflow_tasks = max_workflow_tasks
        self.max_activities = max_activities
        self.eager_activities = eager_activities
        # Workflow tasks running or reserved for an eager start (bounded when reserving only:
        # delivered ones are bounded by the prefetch).
        self.workflow_tasks_busy = 0
        self.activities_running = 0  # delivered, running or waiting for a slot
        self._activity_slots = asyncio.Semaphore(max_activities)
        self._pacer = Pacer(max_activities_per_second) if max_activities_per_second is not None else None

    # --- workflow tasks ---------------------------------------------------------------------

    def reserve_workflow_task(self) -> bool:
        """A slot for an eager start's first task, if one is free; `release_workflow_task` or
        the task's end gives it back."""
        if self.workflow_tasks_busy >= self.max_workflow_tasks:
            return False
        self.workflow_tasks_busy += 1
        return True

    def release_workflow_task(self) -> None:
        self.workflow_tasks_busy -= 1

    @contextmanager
    def workflow_task(self) -> Iterator[None]:
        """A delivered workflow task holds a slot while it runs (eager starts see it busy)."""
        self.workflow_tasks_busy += 1
        try:
            yield
        finally:
            self.workflow_tasks_busy -= 1

    # --- activities -------------------------------------------------------------------------

    @asynccontextmanager
    async def activity(self) -> AsyncIterator[None]:
        """Waits for an activity slot (and the pace of `max_activities_per_second`); counted as
        running from the delivery on, so eager requests stop while attempts wait."""
        self.activities_running += 1
        try:
            async with self._activity_slots:
                if self._pacer is not None:
                    await self._pacer.wait_turn()
                yield
        finally:
            self.activities_running -= 1

    def free_eager_activities(self) -> int:
        """How many eager activities a workflow task may ask for now (none when eager activities
        are off for this worker). Not reserved: the sticky queue's prefetch bounds arrivals."""
        return self.max_activities - self.activities_running if self.eager_activities else 0
