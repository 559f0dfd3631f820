"""temporalio behaviour that needs the server (scenarios_server_gaps.py): embedded, and on the
real stack, each with a low continue-as-new suggestion threshold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from tidal.client import Client
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_server_gaps as sc
from tests.support.scenario_suite import Scenario
from tests.support.stack import Stack

SETTINGS = {"history": {"history_count_suggest_continue_as_new": sc.SUGGEST_AT}}


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    server = EmbeddedServer(settings=SETTINGS)
    await server.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal.embedded", timeout=90.0
    )
    try:
        yield Client(http=http, worker_transport=server.worker_transport)
    finally:
        await http.aclose()
        await server.stop()


@pytest.mark.parametrize("scenario", sc.SCENARIOS, ids=[s.__name__ for s in sc.SCENARIOS])
async def test_embedded(client: Client, scenario: Scenario) -> None:
    await asyncio.wait_for(scenario(client, f"gaps-{scenario.__name__}"), timeout=120)


async def test_server_gaps_on_the_stack(stack: Stack) -> None:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name, TIDAL_HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW=str(sc.SUGGEST_AT))
    await stack.wait_ready(timeout=240)
    client = await Client.connect(stack.address)
    try:
        results = await asyncio.gather(
            *(asyncio.wait_for(s(client, f"gaps-{s.__name__}"), timeout=240) for s in sc.SCENARIOS),
            return_exceptions=True,
        )
    finally:
        await client.close()
    failed = {
        s.__name__: r for s, r in zip(sc.SCENARIOS, results, strict=True) if isinstance(r, BaseException)
    }
    assert not failed, failed
