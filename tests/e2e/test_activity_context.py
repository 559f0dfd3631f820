"""`tidal.activity` context functions on a real worker, embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_activity_context as sa
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

TASK_QUEUE = "activity-context"
SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sa.client_inside_an_activity,
    sa.cancellation_details_say_why,
    sa.worker_shutdown_is_told_to_activities,
    sa.dynamic_activity_runs_unregistered_types,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client, task_queue=TASK_QUEUE, workflows=sa.WORKFLOWS, activities=sa.ACTIVITIES
        ):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, TASK_QUEUE)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids)."""
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=sa.WORKFLOWS, activities=sa.ACTIVITIES):
            results = await asyncio.gather(
                *(s(client, TASK_QUEUE) for s in SCENARIOS), return_exceptions=True
            )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
