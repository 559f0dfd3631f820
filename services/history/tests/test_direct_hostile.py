"""Tasks addressed to a worker's queue whose name no AMQP frame can carry: a worker's completion
may name a sticky queue of up to 1,000 characters (the schema's id limit), which history kept
and published the run's next workflow task and its eager activities to. On RabbitMQ that publish
raised before anything was sent (ValueError: "AMQP short string too long"), not UnroutableError,
so the batch failed after its commit and every relay of its outbox raised again: the shard's
outbox never drained. Such a name is no worker's queue now: the tasks go to matching, which sends
them to the task queue's shared queues. Both buses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tidal_history import direct
from tidal_history.mutation import Outgoing
from tidal_history.store import PendingOutbox
from tidal_schema import names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    WorkflowTask,
)
from tidal_server.bus import Bus, Delivery

from tests.support.shard_zero import bus_with_matching_queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# 13 + 2 x 122 = 257 bytes in 135 characters: a check on characters would let it through.
LONG = names.STICKY_QUEUE_PREFIX + "é" * 122


@pytest.fixture(params=["memory", "amqp"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_with_matching_queue(request, connection_name="tidal-test-direct-hostile") as b:
        yield b


def _row(seq: int, message: AddActivityTask | AddWorkflowTask) -> PendingOutbox:
    o = direct.to_worker(
        Outgoing(exchange=names.MATCHING_EXCHANGE, routing_key=names.MATCHING_ROUTING_KEY, message=message)
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


async def test_tasks_for_a_queue_name_too_long_for_amqp_reach_matching(bus: Bus) -> None:
    activity = ActivityTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        activity_id="1",
        activity_type="a",
        task_queue="q",
        scheduled_event_id=5,
        scheduled_time=T0,
        current_attempt_scheduled_time=T0,
        history_routing_key="shard.0",
    )
    workflow = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=6,
        history_length=0,
        events=(),
        history_routing_key="shard.0",
    )
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        await got.put(d.body)
        await d.ack()

    await bus.consume(names.MATCHING_QUEUE, take)
    rows = [
        _row(1, AddActivityTask(task=activity, worker_queue=LONG)),
        _row(2, AddWorkflowTask(task=workflow, sticky_queue=LONG)),
    ]
    await direct.publish(bus, rows, max_message_bytes=1 << 20)
    msgs = [MATCHING_MESSAGE.validate_json(await asyncio.wait_for(got.get(), 10)) for _ in range(2)]
    assert sorted(m.task.scheduled_event_id for m in msgs) == [5, 6]
