"""Task priority: a task queue's backlog goes out by priority key (workflow and activity tasks),
and a child inherits its parent's; on the embedded server and on the real stack (matching on
RabbitMQ priority queues)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_priority as sp
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

TASK_QUEUE = "priority-e2e"
SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sp.activity_backlog_by_priority,
    sp.workflow_backlog_by_priority,
    sp.child_inherits_priority,
    sp.child_priority_overrides_the_parents,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=TASK_QUEUE, workflows=sp.WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await asyncio.wait_for(scenario(embedded, TASK_QUEUE), timeout=90)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own task queues and workflow ids)."""
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=sp.WORKFLOWS):
            results = await asyncio.gather(
                *(asyncio.wait_for(s(client, TASK_QUEUE), timeout=180) for s in SCENARIOS),
                return_exceptions=True,
            )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
