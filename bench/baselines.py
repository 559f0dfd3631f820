"""What the raw servers do on this box, measured in the same run as the workload.

Tidal's figures are reported as ratios to these (DESIGN.md section 7), so a slow or loaded
machine moves both sides of the ratio together.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from common import latency_summary_ms

BODY = b'{"bench": "a small message of about sixty bytes, like a task"}'


async def rabbit_round_trip(url: str, n: int, *, window: int = 1000, prefetch: int = 1000) -> dict[str, Any]:
    """Persistent publishes with pipelined confirms into a durable queue, consumed (manual ack)
    on a second connection; msgs/s from the first publish to the last message consumed."""
    pub_conn = await aio_pika.connect(url)
    con_conn = await aio_pika.connect(url)
    try:
        pch = await pub_conn.channel(publisher_confirms=True)
        cch = await con_conn.channel()
        await cch.set_qos(prefetch_count=prefetch)
        queue = await cch.declare_queue(f"bench-rt-{uuid.uuid4().hex[:8]}", durable=True)
        received = 0
        all_in = asyncio.Event()

        async def on_message(msg: AbstractIncomingMessage) -> None:
            nonlocal received
            await msg.ack()
            received += 1
            if received >= n:
                all_in.set()

        tag = await queue.consume(on_message)
        start = time.perf_counter()
        sent = 0
        while sent < n:
            batch = min(window, n - sent)
            await asyncio.gather(
                *(
                    pch.default_exchange.publish(
                        aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name,
                    )
                    for _ in range(batch)
                )
            )
            sent += batch
        confirmed = time.perf_counter() - start
        await asyncio.wait_for(all_in.wait(), timeout=60)
        elapsed = time.perf_counter() - start
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return {
            "messages": n,
            "seconds": elapsed,
            "round_trip_msgs_per_s": n / elapsed,
            "published_confirmed_msgs_per_s": n / confirmed,
            "confirm_window": window,
        }
    finally:
        await pub_conn.close()
        await con_conn.close()


async def rabbit_request_reply(url: str, *, count: int, max_seconds: float) -> dict[str, Any]:
    """Sequential durable request/reply: the client publishes a persistent request (confirm
    awaited) to a durable queue; a responder on its own connection publishes a persistent
    reply (confirm awaited) to a durable reply queue, then acks. Latency = until the client
    has both its confirm and the reply."""
    client_conn = await aio_pika.connect(url)
    server_conn = await aio_pika.connect(url)
    try:
        sch = await server_conn.channel(publisher_confirms=True)
        req_q = await sch.declare_queue(f"bench-rr-req-{uuid.uuid4().hex[:8]}", durable=True)

        async def respond(msg: AbstractIncomingMessage) -> None:
            await sch.default_exchange.publish(
                aio_pika.Message(
                    msg.body,
                    correlation_id=msg.correlation_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=str(msg.reply_to),
            )
            await msg.ack()

        req_tag = await req_q.consume(respond)

        cch = await client_conn.channel(publisher_confirms=True)
        reply_q = await cch.declare_queue(f"bench-rr-reply-{uuid.uuid4().hex[:8]}", durable=True)
        waiting: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(msg: AbstractIncomingMessage) -> None:
            await msg.ack()
            fut = waiting.pop(str(msg.correlation_id), None)
            if fut is not None and not fut.done():
                fut.set_result(msg.body)

        reply_tag = await reply_q.consume(on_reply)
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        deadline = time.perf_counter() + max_seconds
        for i in range(count + 20):
            cid = uuid.uuid4().hex
            fut: asyncio.Future[bytes] = loop.create_future()
            waiting[cid] = fut
            t0 = time.perf_counter()
            await asyncio.gather(
                cch.default_exchange.publish(
                    aio_pika.Message(
                        BODY,
                        correlation_id=cid,
                        reply_to=reply_q.name,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=req_q.name,
                ),
                asyncio.wait_for(fut, timeout=10),
            )
            if i >= 20:  # warm-up
                latencies.append(time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        await req_q.cancel(req_tag)
        await reply_q.cancel(reply_tag)
        await req_q.delete(if_unused=False, if_empty=False)
        await reply_q.delete(if_unused=False, if_empty=False)
        return latency_summary_ms(latencies)
    finally:
        await client_conn.close()
        await server_conn.close()


async def postgres_commits(dsn: str, *, count: int, max_seconds: float) -> dict[str, Any]:
    """Single-row INSERTs, each its own (autocommit) transaction, on one asyncpg connection."""
    conn = await asyncpg.connect(dsn)
    try:
        settings = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("server_version", "fsync", "synchronous_commit")
        }
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, body text)")
        stmt = await conn.prepare("INSERT INTO bench_commits (body) VALUES ($1)")
        for _ in range(100):  # warm-up
            await stmt.fetch("warm")
        done = 0
        start = time.perf_counter()
        deadline = start + max_seconds
        while done < count:
            await stmt.fetch("x" * 60)
            done += 1
            if done % 100 == 0 and time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - start
        await conn.execute("DROP TABLE bench_commits")
        return {"commits": done, "seconds": elapsed, "commits_per_s": done / elapsed, "server": settings}
    finally:
        await conn.close()
