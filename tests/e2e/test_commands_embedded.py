"""The command exchange in embedded mode (in-memory bus, same frontend code): replies, dedup,
dead letters and the dead-letter counter the metrics hook into."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, OutMessage

from tests.e2e import scenarios_commands as sc
from tests.support.stack import wait_for


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
        yield env
    await env.shutdown()


async def test_commands_over_the_in_memory_bus(env: WorkflowEnvironment) -> None:
    bus = env.server.bus

    async def call(key: str, body: Any, message_id: str | None = None) -> dict[str, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        out = OutMessage(exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=raw, message_id=message_id)
        reply = await bus.request(out, timeout=30)
        result: dict[str, Any] = json.loads(reply.body)
        return result

    wf_id = f"embedded-cmd-{uuid.uuid4()}"
    sws = {
        "workflow_id": wf_id,
        "workflow_type": "ApprovalWorkflow",
        "task_queue": sc.TASK_QUEUE,
        "args": ["order-20", 2],
        "signal_name": "approve",
        "signal_args": ["gina"],
    }
    first = await call("signal-with-start", sws, message_id="m-1")
    assert first["type"] == "CommandAccepted" and first["started"] is True
    again = await call("signal-with-start", sws, message_id="m-1")
    assert again["run_id"] == first["run_id"] and again["started"] is True
    signalled = await call("signal", {"workflow_id": wf_id, "signal_name": "approve", "args": ["hal"]})
    assert signalled["type"] == "CommandAccepted" and signalled["run_id"] == first["run_id"]
    assert await env.client.get_workflow_handle(wf_id).result() == "order-20 approved by gina,hal"

    dead: list[dict[str, Any]] = []

    async def on_dead(d: Delivery) -> None:
        dead.append(dict(d.headers))
        await d.ack()

    before = {r: _metric(r) for r in ("bad_json", "invalid_command")}
    consumer = await bus.consume(DLQ_QUEUE, on_dead)
    try:
        bad = await call("start", b"{not json")
        assert bad["type"] == "CommandRejected" and bad["code"] == "bad_json" and bad["dead_lettered"]
        wrong = await call("start", {"type": "signal", "workflow_id": wf_id, "signal_name": "x"})
        assert wrong["code"] == "invalid_command" and "contradicts" in wrong["message"]
        await wait_for(lambda: len(dead) >= 2, timeout=10, what="two dead letters")
    finally:
        await consumer.cancel()
    assert [h[H_DL_REASON].split(":")[0] for h in dead] == ["bad_json", "invalid_command"]
    counts = env.server.services["frontend"].commands.dead_lettered
    assert counts == {"bad_json": 1, "invalid_command": 1}
    # The same figures are exported for Prometheus (cumulative for the process: compare deltas).
    assert _metric("bad_json") - before["bad_json"] == 1
    assert _metric("invalid_command") - before["invalid_command"] == 1


def _metric(reason: str) -> float:
    value = REGISTRY.get_sample_value("tidal_frontend_commands_dead_lettered_total", {"reason": reason})
    return value or 0.0
