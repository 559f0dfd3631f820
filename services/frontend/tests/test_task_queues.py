"""GET .../task-queues/{tq}: backlog and pollers, read from the real broker."""

from __future__ import annotations

import uuid

import httpx
from tidal_schema import names
from tidal_server.bus import AmqpBus, OutMessage, QueueSpec


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
