"""The AMQP command ingress goes through the same operation layer as HTTP: the per-namespace start
rate limit, the namespace checks and the answers are the same on both (issue 9, defect 10: AMQP
starts used to skip the start rate limit, which lived in an HTTP route dependency).

Shown on the real stack (pika, a real broker, the dead letter read back from RabbitMQ) and in the
embedded mode (in-memory bus)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tidal.testing import WorkflowEnvironment
from tidal_frontend.ratelimit import StartRateLimiter
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, OutMessage

from tests.e2e import scenarios_commands as sc
from tests.e2e.test_commands_amqp import DeadLetters, PikaCaller
from tests.support.stack import Stack, wait_for


def _start(workflow_id: str) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "workflow_type": "ApprovalWorkflow",
        "task_queue": sc.TASK_QUEUE,
        "args": ["order", 1],
    }


def _assert_rate_limited(reply: dict[str, Any], workflow_id: str) -> None:
    assert reply["type"] == "CommandRejected", reply
    assert reply["code"] == "rate_limited" and reply["dead_lettered"] is True, reply
    assert reply["command"] == "start" and reply["workflow_id"] == workflow_id
    assert "too many workflow starts in namespace 'default'" in reply["message"]


async def test_amqp_starts_obey_the_start_rate_limit_on_the_stack(stack: Stack) -> None:
    for name in ("history", "matching", "timer"):
        stack.start(name)
    # Two starts per namespace, then about one every 100 s: the third start is refused.
    stack.start("frontend", TIDAL_START_RATE_LIMIT_PER_SECOND="0.01", TIDAL_START_RATE_LIMIT_BURST="2")
    await stack.wait_ready()
    caller = await asyncio.to_thread(PikaCaller, stack.amqp_url)
    try:
        ids = [f"limited-{i}-{uuid.uuid4()}" for i in range(3)]
        for wf_id in ids[:2]:
            accepted = await asyncio.to_thread(caller.call, "start", _start(wf_id))
            assert accepted["type"] == "CommandAccepted", accepted
        refused = await asyncio.to_thread(caller.call, "start", _start(ids[2]))
        _assert_rate_limited(refused, ids[2])
        dead = await DeadLetters(stack.amqp_url).wait_for_reason("rate_limited: ")
        assert dead["x-tidal-original-routing-key"] == "start"
        assert dead["x-tidal-original-queue"] == names.COMMANDS_QUEUE
        # One bucket per namespace whatever the ingress: HTTP finds it empty too.
        async with httpx.AsyncClient(base_url=stack.address) as http:
            r = await http.post("/api/v1/namespaces/default/workflows", json=_start(f"http-{uuid.uuid4()}"))
            assert r.status_code == 429 and r.json()["code"] == "rate_limited"
            # The refused run was never started.
            r = await http.get(f"/api/v1/namespaces/default/workflows/{ids[2]}")
            assert r.status_code == 404
        # Signals are not starts: not limited.
        signalled = await asyncio.to_thread(
            caller.call, "signal", {"workflow_id": ids[0], "signal_name": "approve", "args": ["x"]}
        )
        assert signalled["type"] == "CommandAccepted", signalled
    finally:
        await asyncio.to_thread(caller.close)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    yield env
    await env.shutdown()


async def test_amqp_starts_obey_the_start_rate_limit_embedded(env: WorkflowEnvironment) -> None:
    bus = env.server.bus
    frontend = env.server.services["frontend"]
    frontend.context.start_limiter = StartRateLimiter(rate_per_second=0.01, burst=1, monotonic=lambda: 0.0)

    async def call(key: str, body: Any) -> dict[str, Any]:
        out = OutMessage(exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=json.dumps(body).encode())
        reply = await bus.request(out, timeout=30)
        result: dict[str, Any] = json.loads(reply.body)
        return result

    dead: list[dict[str, Any]] = []

    async def on_dead(d: Delivery) -> None:
        dead.append(dict(d.headers))
        await d.ack()

    consumer = await bus.consume(DLQ_QUEUE, on_dead)
    try:
        first, second = f"emb-limited-{uuid.uuid4()}", f"emb-limited-{uuid.uuid4()}"
        assert (await call("start", _start(first)))["type"] == "CommandAccepted"
        _assert_rate_limited(await call("start", _start(second)), second)
        sws = {**_start(f"emb-sws-{uuid.uuid4()}"), "signal_name": "approve"}
        refused = await call("signal-with-start", sws)
        assert refused["code"] == "rate_limited" and refused["command"] == "signal-with-start"
        await wait_for(lambda: len(dead) >= 2, timeout=10, what="two dead letters")
    finally:
        await consumer.cancel()
    assert all(h[H_DL_REASON].startswith("rate_limited: too many workflow starts") for h in dead)
    assert frontend.commands.dead_lettered["rate_limited"] == 2
