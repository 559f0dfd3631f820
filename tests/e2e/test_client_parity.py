"""temporalio's client API on Tidal (issue 11): interceptors and headers, terminate details,
query reject conditions, history event iterators; embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_client_parity as sc
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sc.interceptor_counts_and_adds_headers,
    sc.terminate_records_details,
    sc.query_reject_conditions,
    sc.history_events_and_close_event,
    sc.update_handle_for,
    sc.result_without_following_runs,
    sc.update_wait_runs_out,
    sc.execution_memo_and_listing,
    sc.schedule_action_fields,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, sc.TASK_QUEUE)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids)."""
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            results = await asyncio.gather(
                *(s(client, sc.TASK_QUEUE) for s in SCENARIOS), return_exceptions=True
            )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
