"""A schedule's tick on a real store (SQLite and Postgres): the tick fired twice (the timer service
fires at least once), and again after a history restart that reads the schedule back, starts one
run; the schedule row, its one tick row and the started run are all that is left. The timer
service and matching are played by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    REPLY,
    AckReply,
    AddWorkflowTask,
    CreateSchedule,
    DeleteSchedule,
    FireTimer,
    StartWorkflowExecution,
)
from tidal_schema.schedule_document import ScheduleAction, ScheduleDocument
from tidal_server.bus import Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


@pytest.fixture(params=["sqlite", "postgres"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    if request.param == "postgres":
        url = request.getfixturevalue("fresh_database_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    engine = create_engine(url)
    yield Runtime(bus=bus, engine=engine, member_id="h1", shard_count=1, clock=FakeClock(), embedded=True)
    await engine.dispose()
    await bus.close()


def _out(msg: object) -> OutMessage:
    body = msg.model_dump_json().encode()  # type: ignore[attr-defined]
    return OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)


async def test_a_duplicated_tick_after_a_commit_and_a_restart_starts_one_run(runtime: Runtime) -> None:
    bus, clock = runtime.bus, runtime.clock
    assert isinstance(clock, FakeClock)
    tasks: asyncio.Queue[AddWorkflowTask] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        assert isinstance(msg, AddWorkflowTask)
        await tasks.put(msg)
        await d.ack()

    service = build(runtime)
    await service.start()
    try:
        await bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        await bus.consume(names.MATCHING_QUEUE, take)
        create = CreateSchedule(
            schedule_id="s",
            request_id="r",
            spec={"intervals": [{"every": 60}]},
            action=ScheduleAction(workflow_type="T", workflow_id="wf", task_queue="q"),
        )
        reply = REPLY.validate_json((await bus.request(_out(create), timeout=20)).body)
        assert isinstance(reply, AckReply)

        async def tick_body() -> object:
            async with runtime.engine.connect() as conn:
                rows = (await conn.execute(sa.select(t.timers.c.body))).scalars().all()
            return rows[0] if len(rows) == 1 else None

        await wait_for(tick_body, timeout=20, what="the schedule's one tick row")
        fire = FireTimer.model_validate((await tick_body())["fire"])  # type: ignore[index]
        clock.advance(timedelta(seconds=61))
        await bus.publish(_out(fire))
        first = await asyncio.wait_for(tasks.get(), 20)
        assert first.task.workflow_id.startswith("wf-")
        await bus.publish(_out(fire))  # the duplicate, after the first committed

        async def outbox_drained() -> bool:
            async with runtime.engine.connect() as conn:
                return (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar() == 0

        await wait_for(outbox_drained, timeout=20, what="the outbox to drain")
        await service.stop()
        service = build(runtime)
        await service.start()
        await bus.publish(_out(fire))
        # A start after the duplicates: its task marks the point up to which nothing else came.
        marker = StartWorkflowExecution(
            workflow_id="marker", workflow_type="M", task_queue="q", request_id="m"
        )
        await bus.request(_out(marker), timeout=20)
        after = await asyncio.wait_for(tasks.get(), 20)
        assert after.task.workflow_id == "marker", f"a duplicate tick started {after.task.workflow_id}"
        assert tasks.empty()
        async with runtime.engine.connect() as conn:
            runs = (await conn.execute(sa.select(sa.func.count()).select_from(t.executions))).scalar()
            doc = ScheduleDocument.model_validate(
                (await conn.execute(sa.select(t.schedules.c.document))).scalar()
            )
            ticks = (
                await conn.execute(sa.select(t.timers.c.key).where(t.timers.c.key.like("%/schedule/%")))
            ).all()
        assert runs == 2 and doc.counters.actions == 1  # the scheduled run and the marker
        assert [k for (k,) in ticks] == [f"{doc.incarnation}/schedule/t=2026-01-01T00:02:00Z"]
        # Delete takes the tick row with the schedule.
        reply = REPLY.validate_json(
            (await bus.request(_out(DeleteSchedule(schedule_id="s")), timeout=20)).body
        )
        assert isinstance(reply, AckReply)
        async with runtime.engine.connect() as conn:
            left = (await conn.execute(sa.select(sa.func.count()).select_from(t.schedules))).scalar()
            ticks = (
                await conn.execute(sa.select(t.timers.c.key).where(t.timers.c.key.like("%/schedule/%")))
            ).all()
        assert left == 0 and ticks == []
    finally:
        await service.stop()
