"""`cron_schedule` on the AMQP start command: over the in-memory bus (embedded, with the dead
letters read back) and over RabbitMQ with pika on the shared stack (scenarios_commands_cron.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, OutMessage

from tests.e2e import scenarios_commands_cron as sc
from tests.e2e.test_commands_amqp import PikaCaller
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.shared_stack


async def test_cron_start_command_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    bus = env.server.bus
    tq = f"cmd-cron-{uuid.uuid4().hex[:8]}"

    async def call(key: str, body: dict[str, Any]) -> dict[str, Any]:
        out = OutMessage(exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=json.dumps(body).encode())
        reply: dict[str, Any] = json.loads((await bus.request(out, timeout=30)).body)
        return reply

    dead: list[tuple[bytes, dict[str, Any]]] = []

    async def on_dead(d: Delivery) -> None:
        dead.append((d.body, dict(d.headers)))
        await d.ack()

    consumer = await bus.consume(DLQ_QUEUE, on_dead)
    try:
        async with Worker(env.client, task_queue=tq, workflows=sc.WORKFLOWS):
            await sc.cron_start_runs_twice(env.client, tq, call)
            refused = await sc.invalid_cron_is_dead_lettered(env.client, tq, call)
        await wait_for(lambda: len(dead) >= len(refused), timeout=10, what="the dead letters")
    finally:
        await consumer.cancel()
        await env.shutdown()
    assert [json.loads(body)["workflow_id"] for body, _ in dead] == refused
    for _, headers in dead:
        reason = str(headers[H_DL_REASON])
        assert reason.startswith("invalid_argument") and "cron_schedule" in reason, reason


async def test_cron_start_command_over_rabbitmq(running: Stack) -> None:
    client = await Client.connect(running.address)
    caller = await asyncio.to_thread(PikaCaller, running.amqp_url)
    tq = f"cmd-cron-{uuid.uuid4().hex[:8]}"
    lock = asyncio.Lock()  # one pika channel: one call at a time

    async def call(key: str, body: dict[str, Any]) -> dict[str, Any]:
        async with lock:
            return await asyncio.to_thread(caller.call, key, body)

    try:
        async with Worker(client, task_queue=tq, workflows=sc.WORKFLOWS):
            await sc.cron_start_runs_twice(client, tq, call)
            await sc.invalid_cron_is_dead_lettered(client, tq, call)
    finally:
        await asyncio.to_thread(caller.close)
        await client.close()
