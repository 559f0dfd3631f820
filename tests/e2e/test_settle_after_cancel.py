"""A delivery settled after the worker's shutdown cancelled its consumer (embedded): the flake
seen on main, a query answered right before a worker shut down, whose ack then raised
BusClosedError('consumer cancelled; the delivery was requeued') in a task nobody awaited any
more, which the loop reported as "Task exception was never retrieved". The requeue is fine;
the unretrieved exception is not."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Mapping
from typing import Any

from tidal import workflow
from tidal._task_routing import TaskRouter
from tidal._transport import TaskDelivery
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.polling import until


@workflow.defn
class Waiting:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def state(self) -> str:
        return "waiting"


class _HeldAck:
    """A query's delivery whose ack waits for the test: the answer is out, the ack not yet."""

    def __init__(self, inner: TaskDelivery, gate: asyncio.Event) -> None:
        self._inner, self._gate = inner, gate

    @property
    def body(self) -> bytes:
        return self._inner.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._inner.headers

    @property
    def correlation_id(self) -> str | None:
        return self._inner.correlation_id

    async def ack(self) -> None:
        await self._gate.wait()
        await self._inner.ack()

    async def nack(self, *, requeue: bool = True) -> None:
        await self._inner.nack(requeue=requeue)

    async def dead_letter(self, reason: str) -> None:
        await self._inner.dead_letter(reason)


class _HoldingRouter(TaskRouter):
    gate = asyncio.Event()

    def _hold(self, delivery: TaskDelivery) -> TaskDelivery:
        return _HeldAck(delivery, self.gate) if b'"QueryWorkflowTask"' in delivery.body else delivery

    async def on_workflow_task(self, delivery: TaskDelivery) -> None:
        await super().on_workflow_task(self._hold(delivery))

    async def on_sticky_task(self, delivery: TaskDelivery) -> None:
        await super().on_sticky_task(self._hold(delivery))


class _HoldingWorker(Worker):
    _router_class = _HoldingRouter


async def test_a_query_acked_after_the_consumer_was_cancelled_leaves_no_unretrieved_error() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    env = await WorkflowEnvironment.start_local()
    try:
        _HoldingRouter.gate = asyncio.Event()
        worker = _HoldingWorker(env.client, task_queue="settle-after-cancel", workflows=[Waiting])
        async with worker:
            handle = await env.client.start_workflow(
                Waiting.run, id=f"settle-{uuid.uuid4()}", task_queue="settle-after-cancel"
            )
            assert await handle.query(Waiting.state) == "waiting"  # answered; its ack is held
            router, queues = worker._router, worker._queues
            assert router is not None and queues is not None and router.tasks
            # The shutdown's first step (its consumers cancelled, the deliveries requeued), and
            # the held ack goes on there, as it did between two awaits of a real shutdown.
            router.stopping = True
            await queues.close()
            _HoldingRouter.gate.set()
            await until(lambda: not router.tasks, what="the query's task to end")
            gc.collect()  # the finished task is collected: the loop reports what it left
        unretrieved = [c for c in reported if "never retrieved" in str(c.get("message"))]
        assert unretrieved == [], unretrieved
        assert reported == []
    finally:
        await env.shutdown()
        loop.set_exception_handler(previous)
