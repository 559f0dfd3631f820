"""`tidal workflow query|update|cancel` and `tidal task-queue describe`, as a user runs them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from tidal import workflow
from tidal.client import Client, WorkflowExecutionStatus
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

from tests.support.stack import free_port, wait_for
from tests.test_cli_tidal import _tidal

TQ = "cli-interactions"


@workflow.defn
class Tally:
    def __init__(self) -> None:
        self.total = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.total < 0)  # runs until cancelled
        return self.total

    @workflow.query
    def total_plus(self, extra: int) -> int:
        return self.total + extra

    @workflow.update
    async def add(self, n: int) -> int:
        self.total += n
        return self.total


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Client]]:
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    async with Worker(client, task_queue=TQ, workflows=[Tally]):
        yield f"http://127.0.0.1:{server.http_port}", client
    await client.close()
    await server.stop()


async def test_query_update_cancel_and_task_queue_describe(served: tuple[str, Client]) -> None:
    address, client = served
    handle = await client.start_workflow(Tally.run, id="tally-1", task_queue=TQ)
    code, out, err = await _tidal(
        address, "workflow", "update", "--id", "tally-1", "--name", "add", "--input", "5"
    )
    assert code == 0, err
    assert out.strip() == "5"
    code, out, err = await _tidal(
        address,
        "--output",
        "json",
        "workflow",
        "query",
        "--id",
        "tally-1",
        "--name",
        "total_plus",
        "--input",
        "2",
    )
    assert code == 0, err
    assert json.loads(out) == {"result": 7}
    code, _, err = await _tidal(address, "workflow", "query", "--id", "tally-1", "--name", "nope")
    assert code == 1 and "nope" in err and "Traceback" not in err

    code, out, err = await _tidal(address, "task-queue", "describe", "--task-queue", TQ)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Kind", "Backlog", "Pollers"]
    workflow_row = next(line.split() for line in lines if line.startswith("workflow"))
    assert workflow_row[1] == "0" and int(workflow_row[2]) >= 1  # this test's worker polls it

    code, out, err = await _tidal(address, "workflow", "cancel", "--id", "tally-1")
    assert code == 0 and "Requested cancellation" in out, err

    async def canceled() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.CANCELED

    await wait_for(canceled, timeout=30, what="the workflow to end Canceled")
