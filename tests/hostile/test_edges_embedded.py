"""Hostile input at the edges, embedded mode (in-memory bus, SQLite, the same frontend code)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tidal._inprocess_transport import InProcessTransport
from tidal.client import RPCTimeoutOrCancelledError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, OutMessage

from tests.hostile import scenarios
from tests.hostile.workflows import (
    TASK_QUEUE,
    GrowingMemoWorkflow,
    HostileWorkflow,
    HugeFailureWorkflow,
    OversleepWorkflow,
    WaitForCancelWorkflow,
    fail_with_huge_details,
)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(
        env.client,
        task_queue=TASK_QUEUE,
        workflows=[
            HostileWorkflow,
            OversleepWorkflow,
            HugeFailureWorkflow,
            GrowingMemoWorkflow,
            WaitForCancelWorkflow,
        ],
        activities=[fail_with_huge_details],
    ):
        yield env
    await env.shutdown()


async def test_hostile_http_requests_get_a_4xx_and_every_shard_still_works(env: WorkflowEnvironment) -> None:
    transport = httpx.ASGITransport(app=env.server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        await scenarios.http_cases_are_refused(http)
    await scenarios.every_shard_still_completes(env.client, env.server.shard_count)


async def test_hostile_commands_are_rejected_and_dead_lettered(env: WorkflowEnvironment) -> None:
    bus = env.server.bus
    reasons: list[str] = []

    async def on_dead(d: Delivery) -> None:
        reasons.append(str(d.headers.get(H_DL_REASON, "")))
        await d.ack()

    async def call(key: str, body: bytes) -> dict[str, Any]:
        out = OutMessage(exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=body)
        reply = await bus.request(out, timeout=30)
        result: dict[str, Any] = json.loads(reply.body)
        return result

    consumer = await bus.consume(DLQ_QUEUE, on_dead)
    try:
        await scenarios.command_cases_are_rejected(call, reasons)
    finally:
        await consumer.cancel()
    await scenarios.every_shard_still_completes(env.client, env.server.shard_count)


async def test_a_timer_beyond_the_maximum_fails_the_workflow_task(env: WorkflowEnvironment) -> None:
    overslept = await scenarios.oversleep_fails_the_workflow_task(env.client)
    completed = await scenarios.every_shard_still_completes(env.client, env.server.shard_count)
    transport = httpx.ASGITransport(app=env.server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        await scenarios.histories_match_the_document(http, [overslept, *completed])


async def test_activity_failures_over_the_blob_size_limit_are_bounded(env: WorkflowEnvironment) -> None:
    bounded = await scenarios.huge_activity_failures_are_bounded(env.client)
    completed = await scenarios.every_shard_still_completes(env.client, env.server.shard_count)
    transport = httpx.ASGITransport(app=env.server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        await scenarios.histories_match_the_document(http, [*bounded, *completed])


async def test_a_memo_growing_past_the_limit_fails_the_workflow_task(env: WorkflowEnvironment) -> None:
    grown = await scenarios.a_memo_growing_past_the_limit_fails_the_workflow_task(env.client)
    completed = await scenarios.every_shard_still_completes(env.client, env.server.shard_count)
    transport = httpx.ASGITransport(app=env.server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        await scenarios.histories_match_the_document(http, [grown, *completed])


async def test_a_schedule_whose_runs_could_not_start_is_refused(env: WorkflowEnvironment) -> None:
    await scenarios.a_schedule_with_oversized_static_details_is_refused(env.client)
    await scenarios.every_shard_still_completes(env.client, env.server.shard_count)


async def test_cancels_right_after_start_are_never_lost(env: WorkflowEnvironment) -> None:
    await scenarios.cancels_right_after_start_are_never_lost(env.client)


async def test_a_first_start_over_its_timeout_times_out() -> None:
    """A fresh environment's first start (the frontend's namespace cache empty, so the start
    reads the namespace first) given 1 us raises RPCTimeoutOrCancelledError. Before, the cancel
    its timeout sent was swallowed by Python 3.11's asyncio.wait_for in the SQLite pool's checkout
    (and in the in-memory bus's request), and the call answered 201 after its deadline. A retry
    with the same request id then gets the run, if the start happened."""
    env = await WorkflowEnvironment.start_local()
    try:
        transport = env.client._http._transport
        assert isinstance(transport, InProcessTransport)
        body = {
            "workflow_id": f"first-{uuid.uuid4().hex[:8]}",
            "workflow_type": "HostileWorkflow",
            "task_queue": "nobody-serves-this",
            "request_id": f"req-{uuid.uuid4().hex}",
        }
        path = "/api/v1/namespaces/default/workflows"
        with pytest.raises(RPCTimeoutOrCancelledError):
            await transport.call(env.client._http, "POST", path, {"json": body, "timeout": 1e-6})
        answer = await transport.call(env.client._http, "POST", path, {"json": body})
        assert answer is not None and answer[0] in (200, 201), answer
        assert answer[1]["request_id"] == body["request_id"]
    finally:
        await env.shutdown()


async def test_updates_admitted_past_the_bus_limit_all_reach_the_workflow(env: WorkflowEnvironment) -> None:
    transport = httpx.ASGITransport(app=env.server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded", timeout=120) as http:
        await scenarios.updates_admitted_past_the_bus_limit_all_reach_the_workflow(env.client, http)
