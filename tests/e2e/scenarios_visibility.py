"""Visibility scenarios (embedded and real stack): search attributes set at start and upserted
by the workflow, listed and counted through the SDK and the `tidal` CLI."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from tidal import workflow
from tidal.client import Client
from tidal.exceptions import RPCError
from tidal_schema import WorkflowExecutionStatus

from tests.support.stack import wait_for

S = WorkflowExecutionStatus


@workflow.defn
class OrderWorkflow:
    """Marks itself `packing`, waits for `ship`, then `shipped` (dropping Priority)."""

    def __init__(self) -> None:
        self.shipped = False

    @workflow.run
    async def run(self, order: str) -> str:
        workflow.upsert_search_attributes({"Stage": "packing", "Priority": 2})
        await workflow.wait_condition(lambda: self.shipped)
        workflow.upsert_search_attributes({"Stage": "shipped", "Priority": None, "ShippedAt": workflow.now()})
        return f"{order} shipped"

    @workflow.signal
    def ship(self) -> None:
        self.shipped = True


@workflow.defn
class RenewingWorkflow:
    """Continues as new once; its attributes (upserts included) carry over to the successor."""

    @workflow.run
    async def run(self, generation: int) -> int:
        if generation == 1:
            workflow.upsert_search_attributes({"Stage": "renewing"})
            workflow.continue_as_new(2)
        workflow.upsert_search_attributes({"Generation": generation})
        return generation


WORKFLOWS = [OrderWorkflow, RenewingWorkflow]


async def _ids(client: Client, query: str, **kwargs: int) -> list[str]:
    return [e.id async for e in client.list_workflows(query, **kwargs)]


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def tidal_cli(address: str, *args: str) -> tuple[int, str, str]:
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


async def list_count_and_upsert(client: Client, task_queue: str, address: str) -> None:
    tag = uuid.uuid4().hex[:8]
    c42, c7 = f"c-42-{tag}", f"c-7-{tag}"
    tq = f"TaskQueue = '{task_queue}'"
    orders = {
        f"order-{tag}-{i}": (customer, amount)
        for i, (customer, amount) in enumerate([(c42, 100), (c42, 250), (c7, 100)])
    }
    for wf_id, (customer, amount) in orders.items():
        await client.start_workflow(
            OrderWorkflow.run,
            wf_id,
            id=wf_id,
            task_queue=task_queue,
            search_attributes={"CustomerId": customer, "Amount": amount},
        )
    first, second, third = orders
    # Start attributes are listable at once; the upserts once each first workflow task is done.
    assert await _count(client, f"{tq} AND CustomerId = '{c42}'") == 2
    await wait_for(
        lambda: _count(client, f"{tq} AND Stage = 'packing'"), timeout=60, what="three runs packing"
    )
    await wait_for(
        lambda: _count_is(client, f"{tq} AND Stage = 'packing' AND Priority = 2", 3),
        timeout=60,
        what="upserts",
    )
    running = f"WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND CustomerId = '{c42}'"
    assert await _ids(client, running) == [second, first]  # newest first
    assert await _ids(client, running + " ORDER BY StartTime ASC") == [first, second]
    assert await _ids(client, f"{tq} AND Amount >= 200") == [second]
    assert await _ids(client, f"{tq} AND CustomerId IN ('{c7}', 'nobody') AND Amount BETWEEN 50 AND 150") == [
        third
    ]
    assert await _ids(client, tq, page_size=1) == [third, second, first]  # keyset pages of one
    assert await _ids(client, tq, limit=2) == [third, second]

    handle = client.get_workflow_handle(first)
    await handle.signal(OrderWorkflow.ship)
    assert await handle.result() == f"{first} shipped"
    shipped = [e async for e in client.list_workflows(f"{tq} AND Stage = 'shipped' AND Priority IS NULL")]
    assert [e.id for e in shipped] == [first]
    assert shipped[0].status is S.COMPLETED and shipped[0].close_time is not None
    assert (
        shipped[0].search_attributes["CustomerId"] == c42 and "Priority" not in shipped[0].search_attributes
    )
    assert datetime.fromisoformat(shipped[0].search_attributes["ShippedAt"]) <= shipped[0].close_time
    assert await _count(client, f"{tq} AND ShippedAt > '2000-01-01T00:00:00Z'") == 1
    assert await _count(client, f"{tq} AND ExecutionStatus = 'Running'") == 2
    grouped = await client.count_workflows(f"{tq} GROUP BY ExecutionStatus")
    assert grouped.count == 3
    assert [(g.group_values, g.count) for g in grouped.groups] == [(("Running",), 2), (("Completed",), 1)]

    with pytest.raises(RPCError) as info:
        await client.count_workflows(f"{tq} AND Amount = 'lots'")
    assert info.value.status == "invalid_argument" and "Amount is an Int attribute" in str(info.value)
    with pytest.raises(RPCError) as info:
        await _ids(client, "WorkflowType = ")
    assert info.value.status == "invalid_argument" and "position 15" in str(info.value)

    # The CLI, as a user runs it.
    code, out, err = await tidal_cli(address, "workflow", "list", "--query", f"{tq} AND CustomerId = '{c42}'")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Workflow", "ID", "Run"] and lines[1].startswith("--")
    assert [ln.split()[0] for ln in lines[2:]] == [second, first]
    assert "Completed" in lines[3] and "Running" in lines[2]
    code, out, err = await tidal_cli(
        address, "workflow", "list", "--output", "json", "--query", f"{tq} AND Amount = 100"
    )
    assert code == 0, err
    assert sorted(e["workflow_id"] for e in json.loads(out)) == sorted([first, third])
    code, out, err = await tidal_cli(address, "workflow", "count", "--query", tq)
    assert (code, out.strip()) == (0, "3"), err
    code, out, err = await tidal_cli(
        address, "--output", "json", "workflow", "count", "--query", f"{tq} AND Stage = 'packing'"
    )
    assert code == 0 and json.loads(out) == {"count": 2}, err
    code, _, err = await tidal_cli(address, "workflow", "list", "--query", "Nope = 1")
    assert code == 1 and "invalid_argument" in err and "unknown search attribute 'Nope'" in err

    for wf_id in (second, third):
        await client.get_workflow_handle(wf_id).signal(OrderWorkflow.ship)
        await client.get_workflow_handle(wf_id).result()
    assert await _count(client, f"{tq} AND ExecutionStatus = 'Completed' AND Stage = 'shipped'") == 3


async def _count_is(client: Client, query: str, n: int) -> bool:
    return await _count(client, query) == n


async def bad_start_attributes_are_refused(client: Client, task_queue: str) -> None:
    with pytest.raises(RPCError) as info:
        await client.start_workflow(
            OrderWorkflow.run,
            "x",
            id=f"bad-{uuid.uuid4()}",
            task_queue=task_queue,
            search_attributes={"WorkflowType": "x"},
        )
    assert info.value.status == "invalid_argument" and "system attribute" in str(info.value)


async def continue_as_new_carries_attributes(client: Client, task_queue: str) -> None:
    customer = f"c-renew-{uuid.uuid4().hex[:8]}"
    wf_id = f"renew-{customer}"
    handle = await client.start_workflow(
        RenewingWorkflow.run, 1, id=wf_id, task_queue=task_queue, search_attributes={"CustomerId": customer}
    )
    assert await handle.result() == 2
    runs = [e async for e in client.list_workflows(f"CustomerId = '{customer}'")]
    assert [e.status for e in runs] == [S.COMPLETED, S.CONTINUED_AS_NEW]  # successor first (newer)
    assert runs[0].search_attributes == {"CustomerId": customer, "Stage": "renewing", "Generation": 2}
    assert runs[1].search_attributes == {"CustomerId": customer, "Stage": "renewing"}
    assert await _count(client, f"CustomerId = '{customer}' AND Stage = 'renewing' AND Generation = 2") == 1


async def task_queues_are_listed(client: Client, task_queue: str, address: str) -> None:
    """GET /task-queues names each task queue of the namespace's runs once, in name order, with
    the pollers of the one a worker polls; paging one name at a time finds the same."""
    other = f"{task_queue}-idle"
    for i in range(2):
        await client.execute_workflow(
            RenewingWorkflow.run, 2, id=f"tql-{task_queue}-{i}", task_queue=task_queue
        )
    # No worker polls this one: the run waits, and its queue is listed with no pollers.
    await client.start_workflow(RenewingWorkflow.run, 2, id=f"tql-{other}", task_queue=other)

    url = f"{address}/api/v1/namespaces/default/task-queues"
    async with httpx.AsyncClient(timeout=30) as http:
        seen: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            r = await http.get(url, params={"page_size": 1, **({"next_page_token": token} if token else {})})
            assert r.status_code == 200, r.text
            seen += r.json()["task_queues"]
            token = r.json()["next_page_token"]
            if token is None:
                break
        names = [q["task_queue"] for q in seen]
        assert names == sorted(set(names)) and {task_queue, other} <= set(names), names
        mine = next(q for q in seen if q["task_queue"] == task_queue)
        assert mine["workflow"]["pollers"] >= 1, mine
        idle = next(q for q in seen if q["task_queue"] == other)
        assert idle["workflow"]["pollers"] == 0, idle
        r = await http.get(url, params={"next_page_token": "not base64!"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_argument"
