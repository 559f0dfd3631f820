"""The activity model on the embedded server (one test per scenario) and on the real stack
(services as subprocesses, RabbitMQ + Postgres: every scenario against one stack)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_activities as sa
from tests.support.stack import Stack, wait_for

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


@pytest.mark.shared_stack  # its own task queue and workflow ids
async def test_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            # At once, as ScenarioSuite runs a stack's scenarios (own workflow ids each): one after
            # another they took 28-36 s in CI, mostly waiting for timeouts and retry backoffs.
            async with _worker(client, executor), asyncio.TaskGroup() as tg:
                for scenario in sa.ALL:
                    tg.create_task(scenario(client))
    finally:
        await client.close()


async def test_stack_history_sigkill_while_an_activity_heartbeats(
    fresh_vhost_amqp_url: str, migrated_database_url: str
) -> None:
    """Heartbeats published while history is down wait in its shard queue; after the restart they
    are applied before the heartbeat timer's fire (FIFO), so the attempt is not timed out, and
    the details recorded before and after the crash reach the next attempt."""
    stack = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        stack.start_services()
        await stack.wait_ready()
        client = await Client.connect(stack.address)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with _worker(client, executor):
                key = f"hb-crash-{uuid.uuid4()}"
                handle = await client.start_workflow(
                    sa.HeartbeatWorkflow.run, key, id=key, task_queue=sa.TASK_QUEUE
                )
                await wait_for(lambda: key in sa.RUNNING, timeout=30, what="attempt 1 to run")
                stack.kill("history")
                stack.start("history")
                result = await asyncio.wait_for(handle.result(), timeout=120)
        steps, details = sa.SEEN[key]
        assert details == [f"step-{steps}"] and result == f"resumed from step-{steps} on attempt 2"
        history = (await handle.fetch_history()).events
        assert "ActivityTaskTimedOut" not in [e.event_type for e in history]
        await client.close()
    finally:
        stack.stop_all()
