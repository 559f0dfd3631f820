"""Queries (and updates) end to end: on the embedded server and on the real stack (each service
its own process, real RabbitMQ and Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_queries as sq
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

# --- embedded --------------------------------------------------------------------------------


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(
        env.client,
        task_queue=sq.QUERY_TASK_QUEUE,
        workflows=sq.QUERY_WORKFLOWS,
        activities=sq.UPDATE_ACTIVITIES,
    ):
        yield env
    await env.shutdown()


async def test_embedded_queries(env: WorkflowEnvironment) -> None:
    await sq.queries(env.client)


async def test_embedded_stack_trace_query(env: WorkflowEnvironment) -> None:
    await sq.stack_trace(env.client)


async def test_embedded_query_errors_without_worker(env: WorkflowEnvironment) -> None:
    await sq.query_errors_without_worker(env.client)


async def test_embedded_updates(env: WorkflowEnvironment) -> None:
    await sq.updates(env.client)


async def test_embedded_query_replays_on_another_worker(env: WorkflowEnvironment) -> None:
    await sq.query_replays_on_another_worker(env.client, "queries-moved")


# --- real stack ------------------------------------------------------------------------------


@pytest.fixture
async def stack_client(running: Stack) -> AsyncIterator[Client]:
    c = await Client.connect(running.address)
    async with Worker(
        c, task_queue=sq.QUERY_TASK_QUEUE, workflows=sq.QUERY_WORKFLOWS, activities=sq.UPDATE_ACTIVITIES
    ):
        yield c
    await c.close()


async def test_stack_queries(stack_client: Client) -> None:
    await sq.queries(stack_client)
    await sq.stack_trace(stack_client)
    await sq.query_errors_without_worker(stack_client)
    await sq.query_replays_on_another_worker(stack_client, "queries-moved")


async def test_stack_updates(stack_client: Client) -> None:
    await sq.updates(stack_client)
