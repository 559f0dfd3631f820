"""Signal-with-start through the SDK client, on the embedded server and on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_commands as sc
from tests.support.stack import Stack


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.fixture
async def stack_client(fresh_vhost_amqp_url: str, migrated_database_url: str) -> AsyncIterator[Client]:
    stack = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        stack.start_services()
        await stack.wait_ready()
        client = await Client.connect(stack.address)
        async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            yield client
        await client.close()
    finally:
        stack.stop_all()


async def test_embedded_signal_with_start_starts_a_run_with_the_signal(embedded_client: Client) -> None:
    await sc.signal_with_start_new_run(embedded_client, sc.TASK_QUEUE)


async def test_embedded_signal_with_start_signals_a_running_run(embedded_client: Client) -> None:
    await sc.signal_with_start_running_run(embedded_client, sc.TASK_QUEUE)


async def test_stack_signal_with_start(stack_client: Client) -> None:
    await sc.signal_with_start_new_run(stack_client, sc.TASK_QUEUE)
    await sc.signal_with_start_running_run(stack_client, sc.TASK_QUEUE)
