"""The queues a worker consumes, declared and consumed at its start and cancelled at its end: the
task queue's shared workflow and activity queues, the worker's own sticky queue (cached runs,
queries, eager activities) and activity control queue, and the task queue's rate declaration
that matching needs before the worker takes its first activity."""

from __future__ import annotations

import logging

from tidal_schema import names

from ._activity_worker import ActivityWorker
from ._task_queue_rate import RateDeclarer
from ._task_routing import TaskRouter
from ._transport import TaskConsumer, WorkerTransport

__all__ = ["WorkerQueues"]

log = logging.getLogger("tidal.worker")


class WorkerQueues:
    def __init__(
        self,
        *,
        transport: WorkerTransport,
        router: TaskRouter,
        namespace: str,
        task_queue: str,
        identity: str,
    ) -> None:
        self._transport = transport
        self._router = router
        self._namespace = namespace
        self._task_queue = task_queue
        self._identity = identity
        self._consumers: list[TaskConsumer] = []
        self._rate_declarer: RateDeclarer | None = None

    async def open_workflow_queues(self, *, sticky_queue: str, prefetch: int, sticky_prefetch: int) -> None:
        t, router = self._transport, self._router
        shared = names.workflow_task_queue(self._namespace, self._task_queue)
        await t.declare_task_queue(shared, sticky=False)
        await t.declare_task_queue(sticky_queue, sticky=True)
        self._consumers.append(
            await t.consume(sticky_queue, router.spawn(router.on_sticky_task), prefetch=sticky_prefetch)
        )
        self._consumers.append(
            await t.consume(shared, router.spawn(router.on_workflow_task), prefetch=prefetch)
        )

    async def open_activity_queues(
        self, activity_worker: ActivityWorker, *, prefetch: int, rate: float | None
    ) -> None:
        t, router = self._transport, self._router
        await t.declare_task_queue(activity_worker.control_queue, sticky=True)
        self._consumers.append(
            await t.consume(activity_worker.control_queue, activity_worker.on_control, prefetch=100)
        )
        # Matching learns the task queue's rate before this worker takes its first task.
        self._rate_declarer = RateDeclarer(
            transport=t,
            namespace=self._namespace,
            task_queue=self._task_queue,
            per_second=rate,
            identity=self._identity,
        )
        await self._rate_declarer.declare()
        self._rate_declarer.start()
        queue = names.activity_task_queue(self._namespace, self._task_queue)
        await t.declare_task_queue(queue, sticky=False)
        self._consumers.append(
            await t.consume(queue, router.spawn(router.on_activity_task), prefetch=prefetch)
        )

    async def close(self) -> None:
        """Stop consuming (what was delivered still runs) and declaring the rate."""
        for consumer in self._consumers:
            try:
                await consumer.cancel()
            except Exception:
                log.debug("consumer cancel failed", exc_info=True)
        self._consumers.clear()
        if self._rate_declarer is not None:
            await self._rate_declarer.stop()
            self._rate_declarer = None
