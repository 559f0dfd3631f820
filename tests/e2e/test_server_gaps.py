"""temporalio behaviour that needs the server (scenarios_server_gaps.py): embedded, and on the
real stack, each with a low continue-as-new suggestion threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tidal.client import Client
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_server_gaps as sc
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


async def test_continue_as_new_when_suggested_embedded(client: Client) -> None:
    await sc.continue_as_new_when_suggested(client, "suggest")


async def test_server_gaps_on_the_stack(stack: Stack) -> None:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name, TIDAL_HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW=str(sc.SUGGEST_AT))
    await stack.wait_ready(timeout=240)
    client = await Client.connect(stack.address)
    try:
        await sc.continue_as_new_when_suggested(client, "suggest")
    finally:
        await client.close()
