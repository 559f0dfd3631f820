"""Tasks a worker cannot decode fail with the cause and back off (issue 9, defect 8), in the
embedded mode and on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_undecodable as sc
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    yield env
    await env.shutdown()


async def test_workflow_task_without_the_key_fails_and_backs_off_embedded(env: WorkflowEnvironment) -> None:
    await sc.workflow_task_without_key(env.client)


async def test_activity_task_without_the_key_fails_the_attempt_embedded(env: WorkflowEnvironment) -> None:
    await sc.activity_task_without_key(env.client)


async def test_workflow_task_without_the_key_fails_and_backs_off_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await sc.workflow_task_without_key(client)
    finally:
        await client.close()


async def test_activity_task_without_the_key_fails_the_attempt_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await sc.activity_task_without_key(client)
    finally:
        await client.close()


async def test_a_malformed_task_is_dead_lettered_with_the_reason_embedded(env: WorkflowEnvironment) -> None:
    """Not even a task: acked and parked with the reason, delivered once (no requeue loop)."""
    from tidal_schema import names
    from tidal_server.bus import DLQ_QUEUE, OutMessage
    from tidal_server.bus._api import H_DL_REASON

    from tests.support.stack import wait_for

    bus = env.server.bus
    worker = sc.CountingWorker(env.client, task_queue="malformed", workflows=[sc.Secretive])
    async with worker:
        queue = names.workflow_task_queue("default", "malformed")
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b'{"type": "WorkflowTask"'))
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b'{"type": "ActivityTask"}'))
        await wait_for(lambda: worker.workflow_deliveries >= 2, timeout=10, what="both deliveries")

        async def parked() -> bool:
            return await bus.queue_depth(DLQ_QUEUE) >= 2

        await wait_for(parked, timeout=10, what="the malformed tasks in the dead-letter queue")
        got: list[str] = []

        async def take(d):  # type: ignore[no-untyped-def]
            got.append(str(d.headers.get(H_DL_REASON)))
            await d.ack()

        consumer = await bus.consume(DLQ_QUEUE, take)
        await wait_for(lambda: len(got) >= 2, timeout=10, what="reading the dead letters")
        await consumer.cancel()
        assert all(r.startswith("invalid task:") for r in got), got
        assert worker.workflow_deliveries == 2


async def test_a_malformed_task_is_dead_lettered_with_the_reason_on_rabbitmq(
    fresh_vhost_amqp_url: str,
) -> None:
    """The SDK's AMQP transport parks the task with the reason in its headers, then acks it."""
    import asyncio

    from tidal._task_errors import parse_task
    from tidal._transport import AmqpTransport, TaskDelivery
    from tidal_schema import names
    from tidal_schema.messages import WorkflowTask
    from tidal_server.bus import DLQ_QUEUE, AmqpBus, Delivery, OutMessage
    from tidal_server.bus._api import H_DL_QUEUE, H_DL_REASON

    bus = AmqpBus(fresh_vhost_amqp_url)
    await bus.connect()  # declares the dead-letter exchange and queue
    transport = AmqpTransport(fresh_vhost_amqp_url)
    try:
        queue = names.workflow_task_queue("default", "malformed-amqp")
        await transport.declare_task_queue(queue, sticky=False)
        deliveries = 0

        async def on_task(d: TaskDelivery) -> None:
            nonlocal deliveries
            deliveries += 1
            assert await parse_task(d, (WorkflowTask,)) is None

        consumer = await transport.consume(queue, on_task, prefetch=10)
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"\x00 not json"))
        parked: asyncio.Queue[Delivery] = asyncio.Queue()

        async def take(d: Delivery) -> None:
            await parked.put(d)
            await d.ack()

        await bus.consume(DLQ_QUEUE, take)
        dead = await asyncio.wait_for(parked.get(), 30)
        assert str(dead.headers[H_DL_REASON]).startswith("invalid task:")
        assert dead.headers[H_DL_QUEUE] == queue and dead.body == b"\x00 not json"
        await consumer.cancel()
        assert deliveries == 1  # acked, not requeued
        assert await bus.queue_depth(queue) == 0
    finally:
        await transport.close()
        await bus.close()
