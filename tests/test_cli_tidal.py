"""The `tidal` command line against a running (embedded) server, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

from tests.support.stack import free_port
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE


@pytest.fixture
async def address() -> AsyncIterator[str]:
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        yield f"http://127.0.0.1:{server.http_port}"
    await client.close()
    await server.stop()


async def _tidal(address: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidal.cli",
        "--address",
        address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_start_result_show_and_errors(address: str) -> None:
    code, out, _ = await _tidal(
        address,
        "workflow",
        "start",
        "--type",
        "GreetingWorkflow",
        "--task-queue",
        TASK_QUEUE,
        "--id",
        "cli-1",
        "--input",
        '"CLI"',
    )
    assert code == 0 and "Started workflow cli-1" in out
    code, out, _ = await _tidal(address, "--output", "json", "workflow", "result", "--id", "cli-1")
    assert code == 0 and json.loads(out) == {"result": "Hello, CLI!"}
    code, out, _ = await _tidal(address, "workflow", "show", "--id", "cli-1")
    assert code == 0 and "ActivityTaskCompleted" in out and out.splitlines()[1].startswith("--")
    code, out, _ = await _tidal(address, "workflow", "describe", "--id", "cli-1")
    assert code == 0 and "Completed" in out
    code, _, err = await _tidal(address, "workflow", "describe", "--id", "no-such-workflow")
    assert code == 1 and "not_found" in err and "Traceback" not in err
    code, _, err = await _tidal("http://127.0.0.1:1", "workflow", "describe", "--id", "x")
    assert code == 1 and "cannot reach the Tidal frontend" in err
