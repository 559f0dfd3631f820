"""Hostile input at the edges on the real stack: the same cases as the embedded run, over real
HTTP and RabbitMQ, with history, matching and timer as their own processes on Postgres."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tidal.client import Client
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, AmqpBus, Delivery, OutMessage

from tests.hostile import scenarios
from tests.support.stack import Stack


async def test_hostile_http_requests_and_commands_are_refused_and_every_shard_still_works(
    running: Stack, client: Client, bus: AmqpBus
) -> None:
    # One test, one stack: starting the services is most of its time on a shared 2-core box.
    reasons: list[str] = []

    async def on_dead(d: Delivery) -> None:
        reasons.append(str(d.headers.get(H_DL_REASON, "")))
        await d.ack()

    async def call(key: str, body: bytes) -> dict[str, Any]:
        out = OutMessage(exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=body)
        reply = await bus.request(out, timeout=30)
        result: dict[str, Any] = json.loads(reply.body)
        return result

    async with httpx.AsyncClient(base_url=running.address, timeout=60) as http:
        await scenarios.http_cases_are_refused(http)
        consumer = await bus.consume(DLQ_QUEUE, on_dead)
        try:
            await scenarios.command_cases_are_rejected(call, reasons)
        finally:
            await consumer.cancel()
        completed = await scenarios.every_shard_still_completes(client, running.shard_count)
        overslept = await scenarios.oversleep_fails_the_workflow_task(client)
        bounded = await scenarios.huge_activity_failures_are_bounded(client)
        grown = await scenarios.a_memo_growing_past_the_limit_fails_the_workflow_task(client)
        await scenarios.a_schedule_with_oversized_static_details_is_refused(client)
        await scenarios.cancels_right_after_start_are_never_lost(client)
        await scenarios.updates_admitted_past_the_bus_limit_all_reach_the_workflow(client, http)
        await scenarios.histories_match_the_document(http, [overslept, *bounded, grown, *completed])
    assert all(p.poll() is None for p in running.procs.values()), "a service died"
