"""Poison messages do not stop a history shard (issue 9, defect 4): embedded (in-memory bus +
SQLite) and on the real stack (RabbitMQ + Postgres, each service its own process). The scenario is
in scenarios_poison.py; on the stack a message that makes matching raise is dead-lettered too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aio_pika
import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_schema.messages import AddActivityTask
from tidal_server.bus import DLQ_QUEUE, H_DL_QUEUE, H_DL_REASON, Delivery, OutMessage

from tests.e2e import scenarios
from tests.e2e import scenarios_poison as sp
from tests.support.stack import Stack, wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE


async def test_poison_messages_on_one_shard_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        bus = env.server.bus
        dead: list[tuple[bytes, Mapping[str, Any]]] = []

        async def on_dead(d: Delivery) -> None:
            dead.append((d.body, dict(d.headers)))
            await d.ack()

        await bus.consume(DLQ_QUEUE, on_dead)

        async def publish(shard: int, body: bytes) -> None:
            await bus.publish(
                OutMessage(
                    exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(shard), body=body
                )
            )

        async def dead_letters() -> list[tuple[bytes, Mapping[str, Any]]]:
            return list(dead)

        async with Worker(
            env.client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS, activities=ALL_ACTIVITIES
        ):
            await sp.poison_on_one_shard(
                env.client,
                shard_count=env.server.shard_count,
                publish=publish,
                dead_letters=dead_letters,
                postgres=False,
            )
    finally:
        await env.shutdown()


@pytest.fixture
async def amqp(running: Stack) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    conn = await aio_pika.connect_robust(running.amqp_url)
    try:
        yield await conn.channel()
    finally:
        await conn.close()


async def _drain_dlq(ch: aio_pika.abc.AbstractChannel, into: list[tuple[bytes, Mapping[str, Any]]]) -> None:
    dlq = await ch.get_queue(DLQ_QUEUE)
    while (msg := await dlq.get(no_ack=True, fail=False)) is not None:
        into.append((msg.body, dict(msg.headers)))


async def test_poison_messages_on_one_shard_stack(running: Stack, amqp: aio_pika.abc.AbstractChannel) -> None:
    exchange = await amqp.get_exchange(names.HISTORY_EXCHANGE)
    dead: list[tuple[bytes, Mapping[str, Any]]] = []

    async def publish(shard: int, body: bytes) -> None:
        await exchange.publish(aio_pika.Message(body), routing_key=names.shard_routing_key(shard))

    async def dead_letters() -> list[tuple[bytes, Mapping[str, Any]]]:
        await _drain_dlq(amqp, dead)
        return list(dead)

    client = await Client.connect(running.address)
    try:
        async with Worker(
            client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS, activities=ALL_ACTIVITIES
        ):
            await sp.poison_on_one_shard(
                client,
                shard_count=running.shard_count,
                publish=publish,
                dead_letters=dead_letters,
                postgres=True,
            )
    finally:
        await client.close()


async def test_a_task_matching_cannot_route_is_dead_lettered_stack(
    running: Stack, amqp: aio_pika.abc.AbstractChannel
) -> None:
    """A task queue name RabbitMQ cannot hold (over 255 bytes) makes matching's queue declaration
    raise: that message is dead-lettered with the reason and matching keeps delivering."""
    task = AddActivityTask.model_validate(
        {
            "task": {
                "namespace": "default",
                "workflow_id": "w",
                "run_id": "r",
                "task_queue": "q" * 300,
                "activity_id": "1",
                "activity_type": "greet",
                "workflow_type": "W",
                "scheduled_time": "2026-01-01T00:00:00Z",
                "current_attempt_scheduled_time": "2026-01-01T00:00:00Z",
                "scheduled_event_id": 5,
                "attempt": 1,
                "history_routing_key": names.shard_routing_key(0),
            }
        }
    )
    await amqp.default_exchange.publish(
        aio_pika.Message(task.model_dump_json().encode()), routing_key=names.MATCHING_QUEUE
    )
    dead: list[tuple[bytes, Mapping[str, Any]]] = []

    async def arrived() -> bool:
        await _drain_dlq(amqp, dead)
        return any(h.get(H_DL_QUEUE) == names.MATCHING_QUEUE for _, h in dead)

    await wait_for(arrived, timeout=30, what="the task in the dead-letter queue")
    reason = next(h[H_DL_REASON] for _, h in dead if h.get(H_DL_QUEUE) == names.MATCHING_QUEUE)
    assert reason
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            await scenarios.one_activity(client, TASK_QUEUE)
    finally:
        await client.close()
