"""Visibility end to end: embedded (in-memory bus + SQLite, the real HTTP port for the CLI) and
on the real stack (services as processes, RabbitMQ, Postgres)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_visibility as sv
from tests.support.stack import Stack, free_port


@pytest.fixture
async def embedded() -> AsyncIterator[tuple[Client, str]]:
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    try:
        yield client, f"http://127.0.0.1:{server.http_port}"
    finally:
        await client.close()
        await server.stop()


async def test_visibility_embedded(embedded: tuple[Client, str]) -> None:
    client, address = embedded
    tq = f"vis-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=tq, workflows=sv.WORKFLOWS):
        await sv.list_count_and_upsert(client, tq, address)
        await sv.bad_start_attributes_are_refused(client, tq)
        await sv.continue_as_new_carries_attributes(client, tq)
        await sv.task_queues_are_listed(client, tq, address)


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


async def test_visibility_on_the_real_stack(stack: Stack) -> None:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    tq = f"vis-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(client, task_queue=tq, workflows=sv.WORKFLOWS):
            await sv.list_count_and_upsert(client, tq, stack.address)
            await sv.bad_start_attributes_are_refused(client, tq)
            await sv.continue_as_new_carries_attributes(client, tq)
            await sv.task_queues_are_listed(client, tq, stack.address)
    finally:
        await client.close()
