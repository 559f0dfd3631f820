"""The fused completion, embedded and on the real stack (scenarios in scenarios_fused.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_fused as sf
from tests.support.stack import Stack

Scenario = Callable[[Client, str], Awaitable[None]]


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", sf.ALL, ids=[s.__name__ for s in sf.ALL])
async def test_embedded(embedded_client: Client, scenario: Scenario) -> None:
    await scenario(embedded_client, f"fused-{scenario.__name__}")


@pytest.mark.shared_stack  # its own task queues and workflow ids
@pytest.mark.parametrize("scenario", sf.ALL, ids=[s.__name__ for s in sf.ALL])
async def test_stack(running: Stack, scenario: Scenario) -> None:
    client = await Client.connect(running.address)
    try:
        await scenario(client, f"fused-stack-{scenario.__name__}")
    finally:
        await client.close()
