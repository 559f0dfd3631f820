"""Durability of acknowledged inputs (issue 9), on the embedded server and on the real stack:
inputs buffered behind an outstanding workflow task survive a close or continue-as-new of that
task (Temporal's UNHANDLED_COMMAND); a signal retried after the run closed gets its original
answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_durability as sd
from tests.support.stack import Stack


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sd.TASK_QUEUE, workflows=sd.WORKFLOWS):
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
        async with Worker(client, task_queue=sd.TASK_QUEUE, workflows=sd.WORKFLOWS):
            yield client
        await client.close()
    finally:
        stack.stop_all()


async def test_embedded_continue_as_new_entity_sees_every_signal(embedded_client: Client) -> None:
    await sd.continue_as_new_entity_sees_every_signal(embedded_client, sd.TASK_QUEUE)


async def test_embedded_signal_retried_after_the_close_gets_the_original_answer(
    embedded_client: Client,
) -> None:
    await sd.signal_retried_after_the_close_gets_the_original_answer(embedded_client, sd.TASK_QUEUE)


async def test_stack_durability_scenarios(stack_client: Client) -> None:
    await sd.continue_as_new_entity_sees_every_signal(stack_client, sd.TASK_QUEUE)
    await sd.signal_retried_after_the_close_gets_the_original_answer(stack_client, sd.TASK_QUEUE)
