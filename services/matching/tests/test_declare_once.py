"""A burst of tasks for a task queue matching has not seen declares its worker queue once, not
once per task in flight (every delivery of the first prefetch window used to declare it, two
broker round trips each), and a declaration that fails is tried again by the next task. On the
in-memory bus and on RabbitMQ."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tidal_matching.app import MatchingService
from tidal_matching.settings import MatchingSettings
from tidal_schema import names
from tidal_schema.messages import AddWorkflowTask, WorkflowTask
from tidal_server.bus import (
    AmqpBus,
    Bus,
    BusError,
    ConnectionLostError,
    Delivery,
    InMemoryBus,
    OutMessage,
    QueueSpec,
)
from tidal_server.service import Runtime

from tests.support.polling import until

DEADLINE = 20.0
QUEUE = names.workflow_task_queue("default", "tq")


class CountingBus:
    """The bus, counting the declarations of each queue; a declaration yields first (as a broker
    round trip does) and the first `fail` declarations of the task queue's queue raise."""

    def __init__(self, bus: Bus, *, fail: int = 0) -> None:
        self._bus = bus
        self.declared: dict[str, int] = {}
        self._fail = fail

    async def declare_queue(self, spec: QueueSpec) -> None:
        self.declared[spec.name] = self.declared.get(spec.name, 0) + 1
        await asyncio.sleep(0.01)
        if self._fail and spec.name == QUEUE:
            self._fail -= 1
            raise ConnectionLostError("connection lost while declaring (test)")
        await self._bus.declare_queue(spec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


@pytest.fixture(params=["memory", "amqp"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b: Bus = (
        AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name="tidal-test-declare-once")
        if request.param == "amqp"
        else InMemoryBus()
    )
    await b.connect()
    try:
        yield b
    finally:
        await b.close()


def first_task(task_queue: str) -> bytes:
    task = WorkflowTask(
        namespace="default",
        workflow_id=f"wf-{uuid.uuid4().hex[:8]}",
        run_id="r",
        workflow_type="W",
        task_queue=task_queue,
        scheduled_event_id=2,
        history_length=2,
        events=(),
        history_routing_key=names.shard_routing_key(0),
    )
    return AddWorkflowTask(task=task).model_dump_json().encode()


async def run(bus: Bus, counting: CountingBus, n: int) -> list[bytes]:
    """Publishes `n` first tasks of a new task queue to matching; returns what its workers got."""
    runtime = Runtime(bus=counting, engine=None, member_id="m-test", shard_count=1)  # type: ignore[arg-type]
    service = MatchingService(runtime, MatchingSettings(backlog_poll_seconds=3600))
    await service.start()
    got: list[bytes] = []
    try:
        for _ in range(n):
            await bus.publish(
                OutMessage(
                    exchange=names.MATCHING_EXCHANGE,
                    routing_key=names.MATCHING_ROUTING_KEY,
                    body=first_task("tq"),
                )
            )
        queue = QUEUE
        deadline = time.monotonic() + DEADLINE
        while queue not in counting.declared or not await _exists(bus, queue):
            assert time.monotonic() < deadline, f"matching never declared {queue}"
            await asyncio.sleep(0.02)

        async def on_task(d: Delivery) -> None:
            got.append(d.body)
            await d.ack()

        consumer = await bus.consume(queue, on_task)
        while len(got) < n:
            assert time.monotonic() < deadline, f"{len(got)} of {n} tasks reached the worker queue"
            await asyncio.sleep(0.02)
        await consumer.cancel()
    finally:
        await service.stop()
    return got


async def _exists(bus: Bus, queue: str) -> bool:
    try:
        await bus.queue_depth(queue)
    except BusError:
        return False
    return True


async def test_a_new_task_queue_is_declared_once(bus: Bus) -> None:
    counting = CountingBus(bus)
    got = await run(bus, counting, 50)
    assert len(got) == 50
    assert counting.declared[QUEUE] == 1


async def test_a_failed_declaration_is_tried_again(bus: Bus) -> None:
    counting = CountingBus(bus, fail=1)
    got = await run(bus, counting, 5)
    # Every task reached the queue (those that saw the failure were requeued and came back);
    # the failure was tried again, but not once per waiting task.
    assert len(got) == 5
    assert counting.declared[QUEUE] == 2


class GatedBus(CountingBus):
    """The task queue's first declaration is done at the broker but returns only once `release`
    is set (the declare-ok still in flight)."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self.release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held = False

    async def declare_queue(self, spec: QueueSpec) -> None:
        await super().declare_queue(spec)
        if spec.name == QUEUE and self.declared[QUEUE] == 1:
            self.held = True
            await self.release


async def test_a_task_arriving_as_the_declaration_ends_does_not_declare_again() -> None:
    """The broker's declare-ok and the next task's delivery read in one go: the declaration ends
    in the same event-loop turn as the task is handed to matching, whose handler then runs before
    the tasks that waited for the declaration resume. It must find the queue declared (it used
    to find it neither declared nor being declared, and declared it again: the [amqp] test above
    failed so, 2 == 1, on a loaded box)."""
    bus = InMemoryBus()
    await bus.connect()
    gated = GatedBus(bus)
    runtime = Runtime(bus=gated, engine=None, member_id="m-test", shard_count=1)  # type: ignore[arg-type]
    service = MatchingService(runtime, MatchingSettings(backlog_poll_seconds=3600))
    await service.start()
    task = OutMessage(
        exchange=names.MATCHING_EXCHANGE, routing_key=names.MATCHING_ROUTING_KEY, body=first_task("tq")
    )
    try:
        await bus.publish(task)
        await until(lambda: gated.held, what="the first declaration done at the broker")
        # In this one step: the declaration's awaited future resolves (it ends next turn), and
        # the delivery is routed (matching's handler is created next turn, after it ends).
        gated.release.set_result(None)
        await bus.publish(task)
        await until(lambda: service.delivered == 2, what="both tasks in the worker queue")
        assert await bus.queue_depth(QUEUE) == 2
    finally:
        await service.stop()
        await bus.close()
    assert gated.declared[QUEUE] == 1
