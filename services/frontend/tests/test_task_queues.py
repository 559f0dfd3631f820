"""GET .../task-queues/{tq} and GET .../task-queues: backlog and pollers, read from the real
broker; the list's names from the namespace's runs in Postgres."""

from __future__ import annotations

import base64
import uuid

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import names
from tidal_server.bus import AmqpBus, OutMessage, QueueSpec
from tidal_server.db import executions, namespaces

from .conftest import insert_run


async def test_unknown_task_queue_reads_empty(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/api/v1/namespaces/default/task-queues/nobody-{uuid.uuid4().hex[:6]}")
    assert r.status_code == 200
    body = r.json()
    assert body["workflow"] == {"backlog": 0, "pollers": 0}
    assert body["activity"] == {"backlog": 0, "pollers": 0}


async def test_backlog_and_pollers_are_the_brokers_figures(
    client: httpx.AsyncClient, frontend_bus: AmqpBus
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:6]}"
    wf_q, act_q = names.workflow_task_queue("default", tq), names.activity_task_queue("default", tq)
    for q in (wf_q, act_q):
        await frontend_bus.declare_queue(QueueSpec(name=q))
    await frontend_bus.publish_many(
        [OutMessage(exchange="", routing_key=act_q, body=b"{}") for _ in range(3)]
    )

    async def never(_: object) -> None:  # a poller that holds its deliveries (prefetch 1)
        return None

    consumer = await frontend_bus.consume(wf_q, never, prefetch=1)
    try:
        body = (await client.get(f"/api/v1/namespaces/default/task-queues/{tq}")).json()
        assert body["activity"] == {"backlog": 3, "pollers": 0}
        assert body["workflow"] == {"backlog": 0, "pollers": 1}
    finally:
        await consumer.cancel()


async def test_bad_names_are_4xx(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/namespaces/default/task-queues/" + "x" * 1001)
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")


async def _namespace_with_runs(engine: AsyncEngine, queues: dict[str, int]) -> str:
    """A registered namespace of its own with `count` runs on each task queue."""
    namespace = f"tql-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(sa.insert(namespaces).values(name=namespace))
    for tq, count in queues.items():
        for i in range(count):
            run_id = await insert_run(engine, workflow_id=f"{tq}-{i}", namespace=namespace)
            async with engine.begin() as conn:
                await conn.execute(
                    sa.update(executions).where(executions.c.run_id == run_id).values(task_queue=tq)
                )
    return namespace


async def test_list_pages_the_namespaces_task_queues_with_their_figures(
    client: httpx.AsyncClient, engine: AsyncEngine, frontend_bus: AmqpBus
) -> None:
    ns = await _namespace_with_runs(engine, {"billing": 3, "alpha": 1, "orders/eu": 2, "zeta": 1})
    other = await _namespace_with_runs(engine, {"elsewhere": 2})
    wf_q = names.workflow_task_queue(ns, "billing")
    await frontend_bus.declare_queue(QueueSpec(name=wf_q))

    async def never(_: object) -> None:
        return None

    consumer = await frontend_bus.consume(wf_q, never, prefetch=1)
    try:
        seen: list[dict[str, object]] = []
        token = None
        pages = 0
        while True:
            params = {"page_size": "3", **({"next_page_token": token} if token else {})}
            r = await client.get(f"/api/v1/namespaces/{ns}/task-queues", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            seen += body["task_queues"]
            pages += 1
            token = body["next_page_token"]
            if token is None:
                break
    finally:
        await consumer.cancel()
    # Each name once, in name order, however many runs share it; the other namespace's not at all.
    assert [q["task_queue"] for q in seen] == ["alpha", "billing", "orders/eu", "zeta"]
    assert pages == 2
    billing = seen[1]
    assert billing["workflow"] == {"backlog": 0, "pollers": 1}
    assert billing["activity"] == {"backlog": 0, "pollers": 0}
    r = await client.get(f"/api/v1/namespaces/{other}/task-queues")
    assert [q["task_queue"] for q in r.json()["task_queues"]] == ["elsewhere"]
    assert r.json()["next_page_token"] is None


async def test_list_of_an_empty_namespace_and_forged_tokens(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ns = await _namespace_with_runs(engine, {})
    r = await client.get(f"/api/v1/namespaces/{ns}/task-queues")
    assert r.status_code == 200 and r.json() == {"namespace": ns, "task_queues": [], "next_page_token": None}
    # A token that is not base64, and one that decodes to a NUL (Postgres cannot hold it).
    forged = [base64.urlsafe_b64encode(b).decode() for b in (b"a\x00b", b"\xff")]
    for token in ["%%%", *forged]:
        r = await client.get(f"/api/v1/namespaces/{ns}/task-queues", params={"next_page_token": token})
        assert r.status_code == 400 and r.json()["code"] == "invalid_argument", (token, r.text)
    r = await client.get(f"/api/v1/namespaces/{ns}/task-queues", params={"page_size": "201"})
    assert r.status_code in (400, 422)
    r = await client.get("/api/v1/namespaces/nowhere-at-all/task-queues")
    assert r.status_code == 404 and r.json()["code"] == "namespace_not_found"
