"""Workflow retry policy, id conflict/reuse policies and memo: embedded and on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_policies as sp
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(env.client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS):
        yield env.client
    await env.shutdown()


async def test_workflow_retry_policy_embedded(embedded_client: Client) -> None:
    await sp.workflow_retry_policy(embedded_client)


async def test_conflict_and_reuse_policies_embedded(embedded_client: Client) -> None:
    await sp.conflict_and_reuse_policies(embedded_client)


async def test_policies_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS):
            await sp.workflow_retry_policy(client)
            await sp.conflict_and_reuse_policies(client)
    finally:
        await client.close()
