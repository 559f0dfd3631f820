"""Schedules end to end (docs/schedules.md): embedded (in-memory bus + SQLite) and on the real
stack (services as processes, RabbitMQ, Postgres); the scenarios are in scenarios_schedules.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from tidal.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_schedules as ss
from tests.support.stack import Stack, free_port, wait_for


async def _all_scenarios(client: Client, tq: str, http: httpx.AsyncClient, address: str) -> None:
    """All at once: each scenario works on its own schedule ids, and most of their time is spent
    waiting for wall-clock seconds (every-second schedules) or for the `tidal` CLI; one after
    another they took 31-36 s in CI."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(ss.every_second_interval(client, tq))
        tg.create_task(ss.skip_and_buffer_one(client, tq))
        tg.create_task(ss.terminate_and_cancel_other(client, tq))
        tg.create_task(ss.pause_trigger_backfill_update(client, tq))
        tg.create_task(ss.concurrent_update_is_refused(client, tq, http))
        tg.create_task(ss.hostile_inputs_are_refused(client, tq, http))
        tg.create_task(ss.the_cli(client, tq, address))


@pytest.fixture
async def embedded() -> AsyncIterator[tuple[Client, httpx.AsyncClient, str]]:
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    try:
        yield client, http, f"http://127.0.0.1:{server.http_port}"
    finally:
        await client.close()
        await server.stop()


async def test_schedules_embedded(embedded: tuple[Client, httpx.AsyncClient, str]) -> None:
    client, http, address = embedded
    tq = f"sched-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=tq, workflows=ss.WORKFLOWS):
        await _all_scenarios(client, tq, http, address)


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


async def test_schedules_on_the_real_stack(stack: Stack) -> None:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    http = httpx.AsyncClient(base_url=stack.address)
    tq = f"sched-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(client, task_queue=tq, workflows=ss.WORKFLOWS):
            await _all_scenarios(client, tq, http, stack.address)
    finally:
        await http.aclose()
        await client.close()


async def test_a_daily_cron_over_30_simulated_days_takes_exactly_30_actions() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        tq = f"cron-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=tq, workflows=ss.WORKFLOWS):
            handle = await client.create_schedule(
                "daily",
                Schedule(
                    action=ScheduleActionStartWorkflow(ss.Stamp.run, "noon", id="daily", task_queue=tq),
                    spec=ScheduleSpec(cron_expressions=["0 12 * * *"]),
                ),
            )
            await env.sleep(timedelta(days=30))
            desc = await handle.describe()
            assert desc.info.num_actions == 30, desc.info
            assert desc.info.num_actions_missed_catchup_window == 0
            assert all(
                a.scheduled_at.hour == 12 and a.scheduled_at.minute == 0 for a in desc.info.recent_actions
            )
            runs = [w async for w in client.list_workflows("TemporalScheduledById = 'daily'")]
            assert len(runs) == 30 and len({w.id for w in runs}) == 30


async def test_a_schedule_misses_and_doubles_nothing_across_kills_and_a_full_restart(stack: Stack) -> None:
    """Timer and history SIGKILLed mid-schedule, then the whole stack stopped and started again:
    an every-second ALLOW_ALL schedule has exactly one run per second, none missing, none twice."""
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    tq = f"sched-crash-{uuid.uuid4().hex[:8]}"
    sid = f"crash-{uuid.uuid4().hex[:8]}"
    handle = client.get_schedule_handle(sid)

    async def actions() -> int:
        return (await handle.describe()).info.num_actions

    async def more_than(n: int) -> None:
        async def grown() -> bool:
            return await actions() > n

        await wait_for(grown, timeout=60, what=f"more than {n} actions")

    try:
        async with Worker(client, task_queue=tq, workflows=ss.WORKFLOWS):
            await client.create_schedule(
                sid,
                Schedule(
                    action=ScheduleActionStartWorkflow(ss.Stamp.run, "c", id=sid, task_queue=tq),
                    spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
                ),
            )
            await more_than(2)
            for service in ("timer", "history"):
                stack.kill(service)
                stack.start(service)
                await stack.wait_ready()
                await more_than(await actions() + 2)
            stack.stop_all()
            for name in ("history", "matching", "timer", "frontend"):
                stack.start(name)
            await stack.wait_ready()
            await more_than(await actions() + 2)
            await handle.pause(note="checking")
            taken = await ss.every_second_is_taken_exactly_once(client, sid)
            assert taken >= 9
    finally:
        await client.close()
