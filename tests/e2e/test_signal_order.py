"""Signals before a run's first workflow task starts are recorded before its WorkflowTaskStarted
and seen by its first activation, on the embedded server and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_signal_order as so
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    so.signals_before_the_first_task,
    so.signals_before_the_first_task_after_continue_as_new,
    so.signal_with_start_before_the_first_task,
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
    await asyncio.wait_for(scenario(embedded, ""), timeout=60)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own task queues and workflow ids)."""
    client = await Client.connect(running.address)
    try:
        results = await asyncio.gather(
            *(asyncio.wait_for(s(client, ""), timeout=120) for s in SCENARIOS), return_exceptions=True
        )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
