"""Tasks published straight to a worker's queue (direct.py), on both buses: the worker's queue
takes the bare task; when the queue is gone (the worker left between history's decision and the
publish) the same task reaches matching in its envelope, and nothing raises."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tidal_history import direct
from tidal_history.mutation import Outgoing
from tidal_history.store import PendingOutbox
from tidal_schema import names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    TASK_MESSAGE,
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    WorkflowTask,
)
from tidal_server.bus import AmqpBus, Bus, Delivery, InMemoryBus, QueueSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "amqp"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b: Bus = (
        AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name="tidal-test-direct")
        if request.param == "amqp"
        else InMemoryBus()
    )
    await b.connect()
    await b.declare_exchange(names.MATCHING_EXCHANGE, "direct")
    await b.declare_queue(
        QueueSpec(name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)])
    )
    try:
        yield b
    finally:
        await b.close()


async def _collect(bus: Bus, queue: str) -> asyncio.Queue[bytes]:
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        await got.put(d.body)
        await d.ack()

    await bus.consume(queue, take)
    return got


def _activity(seq: int, queue: str) -> PendingOutbox:
    task = ActivityTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        activity_id=str(seq),
        activity_type="a",
        task_queue="q",
        scheduled_event_id=seq,
        scheduled_time=T0,
        current_attempt_scheduled_time=T0,
        history_routing_key="shard.0",
    )
    o = direct.to_worker(
        Outgoing(
            exchange=names.MATCHING_EXCHANGE,
            routing_key=names.MATCHING_ROUTING_KEY,
            message=AddActivityTask(task=task, worker_queue=queue),
        )
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


def _workflow(seq: int, queue: str) -> PendingOutbox:
    task = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=seq,
        history_length=0,
        events=(),
        history_routing_key="shard.0",
    )
    o = direct.to_worker(
        Outgoing(
            exchange=names.MATCHING_EXCHANGE,
            routing_key=names.MATCHING_ROUTING_KEY,
            message=AddWorkflowTask(task=task, sticky_queue=queue),
        )
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


async def test_a_live_workers_queue_gets_the_bare_tasks(bus: Bus) -> None:
    sticky = names.sticky_queue(f"w-{uuid.uuid4().hex[:8]}")
    await bus.declare_queue(QueueSpec(name=sticky, durable=False, auto_delete=True, dead_letter=False))
    got = await _collect(bus, sticky)
    await direct.publish(bus, [_activity(1, sticky), _workflow(2, sticky)], max_message_bytes=1 << 20)
    bodies = [await asyncio.wait_for(got.get(), 10) for _ in range(2)]
    tasks = sorted((TASK_MESSAGE.validate_json(b) for b in bodies), key=lambda t: t.type)
    assert [type(t) for t in tasks] == [ActivityTask, WorkflowTask]


async def test_a_gone_workers_tasks_reach_matching(bus: Bus) -> None:
    """The sticky queue was deleted between the decision and the publish."""
    sticky = names.sticky_queue(f"gone-{uuid.uuid4().hex[:8]}")
    await bus.declare_queue(QueueSpec(name=sticky, durable=False, auto_delete=True, dead_letter=False))
    await bus.delete_queue(sticky)
    got = await _collect(bus, names.MATCHING_QUEUE)
    await direct.publish(bus, [_activity(1, sticky), _workflow(2, sticky)], max_message_bytes=1 << 20)
    msgs = [MATCHING_MESSAGE.validate_json(await asyncio.wait_for(got.get(), 10)) for _ in range(2)]
    by_type = {m.type: m for m in msgs}
    act, wft = by_type["AddActivityTask"], by_type["AddWorkflowTask"]
    assert isinstance(act, AddActivityTask) and act.worker_queue is None and act.task.scheduled_event_id == 1
    assert isinstance(wft, AddWorkflowTask) and wft.sticky_queue is None and wft.task.scheduled_event_id == 2
