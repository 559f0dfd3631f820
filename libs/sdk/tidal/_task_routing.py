"""Where a worker's deliveries go: each queue's delivery is parsed (a malformed one is dead-
lettered), run as its own asyncio task in a slot (`_task_slots`), and handed to the workflow half
(`_workflow_worker`) or the activity half (`_activity_worker`). The `Worker` owns the queues and
the lifecycle; this owns what happens to one delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tidal_schema.messages import ActivityTask, QueryWorkflowTask, WorkflowTask

from ._activity_worker import ActivityWorker
from ._completion_publisher import CompletionPublisher
from ._eager_start import EagerDelivery
from ._task_errors import parse_task
from ._task_slots import TaskSlots
from ._transport import TaskDelivery
from ._workflow_worker import WorkflowWorker
from .converter import DataConverter

__all__ = ["TaskRouter"]

log = logging.getLogger("tidal.worker")

_WORKFLOW_KINDS: tuple[type, ...] = (WorkflowTask, QueryWorkflowTask)
_STICKY_KINDS_WITH_EAGER: tuple[type, ...] = (WorkflowTask, QueryWorkflowTask, ActivityTask)


class TaskRouter:
    def __init__(
        self,
        *,
        slots: TaskSlots,
        publisher: CompletionPublisher,
        converter: Callable[[], DataConverter],
        workflow_worker: WorkflowWorker | None,
        activity_worker: ActivityWorker | None,
    ) -> None:
        """`converter`: the client's current one (a worker's client can be replaced while it runs)."""
        self._slots = slots
        self._publisher = publisher
        self._converter = converter
        self.workflow_worker = workflow_worker
        self.activity_worker = activity_worker
        # Set once the worker shuts down: activities still waiting for a slot go back to the queue.
        self.stopping = False
        # Every delivery's task, until it finishes (the worker's shutdown waits for them).
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(
        self, fn: Callable[[TaskDelivery], Coroutine[Any, Any, None]]
    ) -> Callable[[TaskDelivery], Awaitable[None]]:
        """A queue's handler: each delivery runs as its own task so one slow activity never blocks
        the queue; the prefetch bounds how many are in flight."""

        async def handler(delivery: TaskDelivery) -> None:
            self._track(asyncio.create_task(fn(delivery)))

        return handler

    def _track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Retrieve what a delivery's task raised past the halves' own handling: left in a task
        nobody awaits any more (the shutdown awaits only those still running), the loop reports
        it as "Task exception was never retrieved" when the task is collected. The usual one is
        a settle after the shutdown cancelled the consumer (a query answered just before): the
        broker has requeued the delivery, and an answer given twice is harmless (history ignores
        a stale completion, a requester that got its reply ignores another)."""
        self.tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if self.stopping:
            log.info("a delivery was not settled as the worker stopped (the broker requeued it): %r", exc)
        else:
            log.error("a delivery's task failed (the broker redelivers it if unsettled)", exc_info=exc)

    # --- the queues -------------------------------------------------------------------------

    async def on_workflow_task(self, delivery: TaskDelivery) -> None:
        task = await parse_task(delivery, _WORKFLOW_KINDS)
        if isinstance(task, WorkflowTask | QueryWorkflowTask):
            await self._run_workflow_delivery(task, delivery)

    async def on_sticky_task(self, delivery: TaskDelivery) -> None:
        """The worker's own queue: workflow tasks of runs it has cached, queries, and the eager
        activities its completions asked for."""
        kinds = _STICKY_KINDS_WITH_EAGER if self._slots.eager_activities else _WORKFLOW_KINDS
        task = await parse_task(delivery, kinds)
        if isinstance(task, ActivityTask):
            if self.workflow_worker is not None:
                self.workflow_worker.fused.note_eager_activity(task)
            await self._run_activity_task(task, delivery)
        elif isinstance(task, WorkflowTask | QueryWorkflowTask):
            await self._run_workflow_delivery(task, delivery)

    async def on_activity_task(self, delivery: TaskDelivery) -> None:
        task = await parse_task(delivery, (ActivityTask,))
        if isinstance(task, ActivityTask):
            await self._run_activity_task(task, delivery)

    # --- workflow tasks ---------------------------------------------------------------------

    async def _run_workflow_delivery(
        self, task: WorkflowTask | QueryWorkflowTask, delivery: TaskDelivery
    ) -> None:
        if self.workflow_worker is None:
            return
        if isinstance(task, QueryWorkflowTask):
            await self.workflow_worker.run_delivery(task, delivery)
            return
        with self._slots.workflow_task():
            await self.workflow_worker.run_delivery(task, delivery)

    def run_eager_task(self, task: WorkflowTask) -> None:
        """Run an eager start's first task in the slot reserved for it, as a delivered one."""

        async def run() -> None:
            try:
                if self.workflow_worker is not None:
                    await self.workflow_worker.run_delivery(task, EagerDelivery(task))
            finally:
                self._slots.release_workflow_task()

        self._track(asyncio.create_task(run()))

    # --- activities -------------------------------------------------------------------------

    async def _run_activity_task(self, task: ActivityTask, delivery: TaskDelivery) -> None:
        async with self._slots.activity():
            if self.stopping:
                await delivery.nack(requeue=True)  # another worker takes it
                return
            assert self.activity_worker is not None
            wf = self.workflow_worker
            await self.activity_worker.deliver(
                task,
                delivery,
                converter=self._converter(),
                publish_encoded=self._publisher.publish_encoded,
                fused=wf.fused if wf is not None and wf.fused.enabled else None,
                publish_fused=self._publisher.publish_fused,
            )
