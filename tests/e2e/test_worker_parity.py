"""temporalio.worker / converter / exceptions / common parity (issue 11), embedded and on the
real stack (scenarios in scenarios_worker_parity.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_worker_parity as sw
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sw.activity_interceptors,
    sw.custom_converter_and_codec,
    sw.serialization_contexts,
    sw.benign_application_errors,
    sw.metric_meters,
    sw.worker_slots_and_config,
    sw.worker_plugins,
    sw.activities_per_second,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, f"worker-parity-{scenario.__name__}")


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each on its own task queue)."""
    client = await Client.connect(running.address)
    try:
        results = await asyncio.gather(
            *(s(client, f"worker-parity-{s.__name__}") for s in SCENARIOS), return_exceptions=True
        )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
