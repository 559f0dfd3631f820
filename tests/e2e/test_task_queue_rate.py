"""A task queue's activity dispatch rate (`Worker(max_task_queue_activities_per_second=)`),
enforced by matching: embedded (in-memory bus + SQLite) and on the real stack (RabbitMQ +
Postgres, each service its own process). Scenarios in scenarios_task_queue_rate.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aio_pika
import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, Delivery, OutMessage

from tests.e2e import scenarios_task_queue_rate as sr
from tests.support.scenario_suite import Scenario, ScenarioSuite
from tests.support.stack import Stack, wait_for

SUITE = ScenarioSuite(
    scenarios=[sr.task_queue_rate_paces_dispatch],
    queue=lambda s: f"tq-rate-{s.__name__}",
    timeout=60,
)


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    async with SUITE.embedded() as client:
        yield client


@pytest.mark.parametrize("scenario", SUITE.scenarios, ids=SUITE.ids)
async def test_embedded(embedded: Client, scenario: Scenario) -> None:
    await SUITE.run_one(embedded, scenario)


@pytest.mark.shared_stack  # `running` is tests/e2e's shared stack: own ids and task queues
async def test_stack(running: Stack) -> None:
    await SUITE.run_all(running.address)


async def test_hostile_rate_declarations_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        bus = env.server.bus
        dead: list[tuple[bytes, Mapping[str, Any]]] = []

        async def on_dead(d: Delivery) -> None:
            dead.append((d.body, dict(d.headers)))
            await d.ack()

        await bus.consume(DLQ_QUEUE, on_dead)

        async def publish(body: bytes) -> None:
            await bus.publish(
                OutMessage(
                    exchange=names.RATES_EXCHANGE, routing_key=names.MATCHING_RATES_ROUTING_KEY, body=body
                )
            )

        async def dead_letters() -> list[tuple[bytes, Mapping[str, Any]]]:
            return list(dead)

        await sr.hostile_rate_declarations(env.client, "tq-rate-hostile", publish, dead_letters)
    finally:
        await env.shutdown()


async def test_a_time_skip_does_not_lapse_the_rate_embedded() -> None:
    """In the time-skipping environment a workflow sleeps an hour (skipped), then schedules 6
    activities on a queue limited to 2/s: they still start over 2 s. Before the declarations'
    time to live ran on real time, the skip made the rate lapse and all 6 started at once."""
    env = await WorkflowEnvironment.start_time_skipping()
    key = f"tq-rate-skip-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            env.client,
            task_queue="tq-rate-skip",
            workflows=[sr.SleepThenBurst],
            activities=[sr.note_start],
            max_task_queue_activities_per_second=2,
        ):
            await env.client.execute_workflow(
                sr.SleepThenBurst.run, args=[key, 6], id=key, task_queue="tq-rate-skip"
            )
    finally:
        await env.shutdown()
    starts = sorted(sr.STARTS[key])
    assert len(starts) == 6 and starts[-1] - starts[0] >= 1.7, starts  # 2.0 s by the bucket


@pytest.fixture
async def amqp(running: Stack) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    conn = await aio_pika.connect_robust(running.amqp_url)
    try:
        yield await conn.channel()
    finally:
        await conn.close()


async def test_hostile_rate_declarations_stack(running: Stack, amqp: aio_pika.abc.AbstractChannel) -> None:
    """On a stack of its own: it reads the dead-letter queue."""
    exchange = await amqp.get_exchange(names.RATES_EXCHANGE)
    dead: list[tuple[bytes, Mapping[str, Any]]] = []

    async def publish(body: bytes) -> None:
        await exchange.publish(aio_pika.Message(body), routing_key=names.MATCHING_RATES_ROUTING_KEY)

    async def dead_letters() -> list[tuple[bytes, Mapping[str, Any]]]:
        dlq = await amqp.get_queue(DLQ_QUEUE)
        while (msg := await dlq.get(no_ack=True, fail=False)) is not None:
            dead.append((msg.body, dict(msg.headers)))
        return list(dead)

    client = await Client.connect(running.address)
    try:
        await sr.hostile_rate_declarations(client, "tq-rate-hostile", publish, dead_letters)
    finally:
        await client.close()


async def test_held_tasks_survive_a_matching_crash_stack(stack: Stack) -> None:
    """Matching is SIGKILLed while a rate-limited task queue's activities wait in its held queue,
    and started again: every activity still runs (the held queue is durable, the waiting task
    unacked), still paced once the worker declared again."""
    stack.start_services()
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    key = f"tq-rate-crash-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            client,
            task_queue="tq-rate-crash",
            workflows=[sr.RateBurst],
            activities=[sr.note_start],
            max_task_queue_activities_per_second=1,
        ):
            handle = await client.start_workflow(
                sr.RateBurst.run, args=[key, 8], id=key, task_queue="tq-rate-crash"
            )
            await wait_for(lambda: len(sr.STARTS.get(key, [])) >= 2, timeout=60, what="two activities")
            stack.kill("matching")
            started = len(sr.STARTS[key])
            assert started < 8, "the activities were not held"
            stack.start("matching")
            await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        await client.close()
    starts = sorted(sr.STARTS[key])
    assert len(starts) >= 8, starts
    assert starts[-1] - starts[0] >= 5.0, starts  # 7 s by the bucket, less a restart's burst
