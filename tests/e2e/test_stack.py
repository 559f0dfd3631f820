"""The scenarios on the real stack: each service its own process, real RabbitMQ and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import sqlalchemy as sa
from tidal.client import Client
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import DLQ_QUEUE
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine

from tests.e2e import scenarios
from tests.support.stack import Stack, wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, ATTEMPTS, TASK_QUEUE, GreetingWorkflow


@pytest.fixture
async def client(running: Stack) -> AsyncIterator[Client]:
    c = await Client.connect(running.address)
    async with Worker(c, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        yield c
    await c.close()


@pytest.mark.shared_stack
async def test_one_activity_workflow(client: Client) -> None:
    await scenarios.one_activity(client, TASK_QUEUE)


@pytest.mark.shared_stack
async def test_one_second_timer(client: Client) -> None:
    await scenarios.one_second_timer(client, TASK_QUEUE)


@pytest.mark.shared_stack
async def test_activity_fails_twice_then_succeeds(client: Client) -> None:
    await scenarios.retry_then_succeed(client, TASK_QUEUE)


async def _completed_counts(database_url: str, prefix: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.history_events.c.workflow_id, sa.func.count())
                    .where(
                        t.history_events.c.workflow_id.like(f"{prefix}%"),
                        t.history_events.c.event_type == "ActivityTaskCompleted",
                    )
                    .group_by(t.history_events.c.workflow_id)
                )
            ).all()
        return {r[0]: int(r[1]) for r in rows}
    finally:
        await engine.dispose()


async def test_history_sigkill_mid_flight_loses_nothing(running: Stack) -> None:
    client = await Client.connect(running.address)
    prefix = f"crash-{uuid.uuid4().hex[:6]}-"
    async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        handles = [
            await client.start_workflow(
                GreetingWorkflow.run, f"n{i}", id=f"{prefix}{i}", task_queue=TASK_QUEUE
            )
            for i in range(200)
        ]
        # Kill history while workflows are in every stage, then bring it back.
        await wait_for(
            lambda: sum(1 for k in ATTEMPTS if k.startswith(f"greet:{prefix}")) >= 20,
            timeout=60,
            what="some activities to run",
        )
        running.kill("history")
        running.start("history")
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=180)
    assert results == [f"Hello, n{i}!" for i in range(200)]
    counts = await _completed_counts(running.database_url, prefix)
    assert len(counts) == 200 and set(counts.values()) == {1}, (
        "each activity completed exactly once in history"
    )
    await client.close()


async def test_two_history_processes_share_shards_and_fail_over(stack: Stack) -> None:
    stack.start("history", key="history-a", TIDAL_MEMBER_ID="history-a")
    stack.start("history", key="history-b", TIDAL_MEMBER_ID="history-b")
    for name in ("matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready()
    engine = create_engine(stack.database_url)

    async def owners() -> dict[int, str]:
        async with engine.connect() as conn:
            return {r.shard_id: r.owner for r in (await conn.execute(sa.select(t.shards))).all()}

    async def split_evenly() -> bool:
        o = await owners()
        return (
            len(o) == stack.shard_count
            and sorted(set(o.values())) == ["history-a", "history-b"]
            and list(o.values()).count("history-a") == stack.shard_count // 2
        )

    try:
        await wait_for(split_evenly, timeout=30, what="both history processes to own half the shards")
        stack.kill("history-a")

        async def b_owns_all() -> bool:
            return set((await owners()).values()) == {"history-b"}

        await wait_for(b_owns_all, timeout=30, what="history-b to take over history-a's shards")
        client = await Client.connect(stack.address)
        async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            results = await asyncio.gather(
                *(
                    client.execute_workflow(
                        GreetingWorkflow.run,
                        f"x{i}",
                        id=f"after-failover-{uuid.uuid4()}",
                        task_queue=TASK_QUEUE,
                    )
                    for i in range(16)
                )
            )
        assert results == [f"Hello, x{i}!" for i in range(16)]
        await client.close()
    finally:
        await engine.dispose()


async def test_malformed_messages_are_dead_lettered_and_services_keep_running(running: Stack) -> None:
    conn = await aio_pika.connect_robust(running.amqp_url)
    try:
        ch = await conn.channel()
        targets = {
            names.history_queue(0): b'{"type": "CompleteActivityTask", "oops": true}',
            names.MATCHING_QUEUE: b"not json at all",
            names.timer_queue(0): b'{"type": "ScheduleTimer"}',
        }
        for queue, body in targets.items():
            await ch.default_exchange.publish(aio_pika.Message(body), routing_key=queue)
        dlq = await ch.get_queue(DLQ_QUEUE)
        seen: dict[str, str] = {}

        async def drained() -> bool:
            msg = await dlq.get(no_ack=True, fail=False)
            if msg is not None:
                seen[str(msg.headers.get("x-tidal-original-queue"))] = str(
                    msg.headers.get("x-tidal-dead-letter-reason")
                )
            return set(targets) <= set(seen)

        await wait_for(drained, timeout=30, what="all malformed messages in the dead-letter queue")
        assert all(reason for reason in seen.values())
    finally:
        await conn.close()
    # Every service still works end to end.
    client = await Client.connect(running.address)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        await scenarios.one_activity(client, TASK_QUEUE)
    await client.close()


@pytest.mark.shared_stack
async def test_sticky_worker_gone_falls_back_to_the_shared_queue(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await scenarios.sticky_fallback(client, "sticky-fallback")
    finally:
        await client.close()


@pytest.mark.shared_stack
async def test_cancel_runs_cleanup_and_ends_canceled(client: Client) -> None:
    await scenarios.cancel_with_cleanup(client, TASK_QUEUE)
