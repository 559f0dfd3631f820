"""The activity model on the embedded server (one test per scenario) and on the real stack
(services as subprocesses, RabbitMQ + Postgres: every scenario against one stack)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_activities as sa
from tests.support.stack import Stack

Scenario = Callable[[Client], Awaitable[None]]


def _worker(client: Client, executor: concurrent.futures.Executor) -> Worker:
    return Worker(
        client,
        task_queue=sa.TASK_QUEUE,
        workflows=sa.WORKFLOWS,
        activities=sa.ACTIVITIES,
        activity_executor=executor,
    )


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        try:
            async with _worker(env.client, executor):
                yield env.client
        finally:
            await env.shutdown()


@pytest.mark.parametrize("scenario", sa.ALL, ids=[s.__name__ for s in sa.ALL])
async def test_embedded(embedded_client: Client, scenario: Scenario) -> None:
    await scenario(embedded_client)


async def test_stack(fresh_vhost_amqp_url: str, fresh_database_url: str) -> None:
    stack = Stack(amqp_url=fresh_vhost_amqp_url, database_url=fresh_database_url)
    try:
        stack.start_all()
        await stack.wait_ready()
        client = await Client.connect(stack.address)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with _worker(client, executor):
                for scenario in sa.ALL:
                    await scenario(client)
        await client.close()
    finally:
        stack.stop_all()
