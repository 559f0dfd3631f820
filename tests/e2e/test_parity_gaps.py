"""Closed temporalio parity gaps (issue 11), embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_parity as sp
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sp.error_causes_and_retry_state,
    sp.describe_parent_and_root,
    sp.all_handlers_finished,
    sp.current_history_length,
    sp.environment_from_client,
    sp.worker_shutdown_cancels_activities,
    sp.execution_time_and_static_metadata,
    sp.priority_on_start_and_activities,
    sp.info_search_attributes,
    sp.cancel_with_reason,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS, activities=sp.ACTIVITIES
        ):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, sp.TASK_QUEUE)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids)."""
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=sp.TASK_QUEUE, workflows=sp.WORKFLOWS, activities=sp.ACTIVITIES):
            results = await asyncio.gather(
                *(s(client, sp.TASK_QUEUE) for s in SCENARIOS), return_exceptions=True
            )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
