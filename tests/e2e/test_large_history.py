"""A run whose history outgrows a bus message keeps working, and its shard keeps serving
(issue 9, defect 5); history limits terminate a run. Embedded mode and the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tidal.client import Client
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_large_history as sc
from tests.support.stack import Stack

COUNT_LIMIT = 500


@pytest.fixture
async def small_limit_client() -> AsyncIterator[Client]:
    server = EmbeddedServer(
        max_message_bytes=sc.SMALL_LIMIT,
        settings={
            "history": {
                "history_count_limit_error": COUNT_LIMIT,
                "history_count_limit_warn": 100,
                "blob_size_limit": sc.BLOB_LIMIT,
            }
        },
    )
    await server.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal.embedded", timeout=90.0
    )
    client = Client(http=http, worker_transport=server.worker_transport)
    try:
        yield client
    finally:
        await http.aclose()
        await server.stop()


async def test_a_history_larger_than_a_message_keeps_working_embedded(small_limit_client: Client) -> None:
    await sc.large_history(small_limit_client, shard_count=4)


async def test_the_history_count_limit_terminates_the_run_embedded(small_limit_client: Client) -> None:
    await sc.count_limit_terminates(small_limit_client, limit=COUNT_LIMIT)


async def test_the_blob_size_limit_fails_the_workflow_task_embedded(small_limit_client: Client) -> None:
    await sc.blob_limit_fails_the_task(small_limit_client)


async def test_a_completion_over_the_message_limit_fails_the_task_embedded(
    small_limit_client: Client,
) -> None:
    await sc.oversized_completion_fails_the_task(small_limit_client)


async def test_large_histories_and_the_count_limit_on_the_stack(stack: Stack) -> None:
    """One stack for both scenarios (starting one is the slow part)."""
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(
            name,
            TIDAL_MAX_MESSAGE_BYTES=str(sc.SMALL_LIMIT),
            TIDAL_HISTORY_COUNT_LIMIT_ERROR=str(COUNT_LIMIT),
            TIDAL_HISTORY_COUNT_LIMIT_WARN="100",
            TIDAL_BLOB_SIZE_LIMIT=str(sc.BLOB_LIMIT),
        )
    await stack.wait_ready(timeout=240)  # a shared 2-core machine can be slow to start four services
    client = await Client.connect(stack.address)
    try:
        await sc.large_history(client, shard_count=stack.shard_count)
        await sc.count_limit_terminates(client, limit=COUNT_LIMIT)
        await sc.blob_limit_fails_the_task(client)
        await sc.oversized_completion_fails_the_task(client)
    finally:
        await client.close()
