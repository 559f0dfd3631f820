"""Update-with-start (tests/e2e/scenarios_update_with_start.py), embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_update_with_start as sc
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

IDS = [s.__name__ for s in sc.SCENARIOS]


@pytest.fixture(scope="module")
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", sc.SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client], Awaitable[None]]) -> None:
    await scenario(embedded)


async def test_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            results = await asyncio.gather(*(s(client) for s in sc.SCENARIOS), return_exceptions=True)
    finally:
        await client.close()
    failed = {n: r for n, r in zip(IDS, results, strict=True) if isinstance(r, BaseException)}
    assert not failed, failed
