"""Hostile input at the edges, embedded mode (in-memory bus, SQLite, the same frontend code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
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
    fail_with_huge_details,
)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(
        env.client,
        task_queue=TASK_QUEUE,
        workflows=[HostileWorkflow, OversleepWorkflow, HugeFailureWorkflow, GrowingMemoWorkflow],
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
