"""Retention on Postgres: a terminated run arms a RETENTION timer; its first fire (after a day)
re-arms it for close + the namespace's retention; the fire after that purges the run, its
current row, events and timers in one transaction. The timer service is played by the test
(it publishes the FireTimer the timers row holds); time is a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import names
from tidal_schema.messages import FireTimer, StartWorkflowExecution, TerminateWorkflowExecution, TimerKind
from tidal_server.bus import InMemoryBus, OutMessage
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


@pytest.fixture
async def runtime(fresh_database_url: str) -> AsyncIterator[Runtime]:
    await migrate(fresh_database_url)
    bus = InMemoryBus()
    await bus.connect()
    engine = create_engine(fresh_database_url)
    clock = FakeClock()
    # embedded=True: one process owns every shard (no membership heartbeats on the fake clock).
    yield Runtime(bus=bus, engine=engine, member_id="h1", shard_count=1, clock=clock, embedded=True)
    await engine.dispose()
    await bus.close()


async def _send(runtime: Runtime, msg: object) -> None:
    body = msg.model_dump_json().encode()  # type: ignore[attr-defined]
    await runtime.bus.publish(
        OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)
    )


async def _request(runtime: Runtime, msg: object) -> str:
    body = msg.model_dump_json().encode()  # type: ignore[attr-defined]
    out = OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)
    reply = await runtime.bus.request(out, timeout=20)
    return reply.body.decode()


async def _scalar(runtime: Runtime, query: sa.Select[tuple[object]]) -> object:
    async with runtime.engine.connect() as conn:
        return (await conn.execute(query)).scalar()


async def test_retention_purges_a_closed_run(runtime: Runtime) -> None:
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.update(t.namespaces).where(t.namespaces.c.name == "default").values(retention_days=3)
        )
    service = build(runtime)
    await service.start()
    try:
        start = StartWorkflowExecution(workflow_id="wf", workflow_type="T", task_queue="q", request_id="r")
        # Request/reply: history has committed each one when it answers.
        assert "StartWorkflowReply" in await _request(runtime, start)
        terminate = TerminateWorkflowExecution(workflow_id="wf", reason="done")
        assert "AckReply" in await _request(runtime, terminate)
        ex = t.executions.c
        retention_timer = sa.select(t.timers.c.body).where(t.timers.c.key.like("%/retention"))

        async def armed() -> bool:
            return await _scalar(runtime, retention_timer) is not None

        await wait_for(armed, timeout=20, what="the retention timer row")
        assert await _scalar(runtime, sa.select(ex.status).where(ex.workflow_id == "wf")) == "Terminated"
        run_id = await _scalar(runtime, sa.select(ex.run_id).where(ex.workflow_id == "wf"))
        close_time = await _scalar(runtime, sa.select(ex.close_time).where(ex.workflow_id == "wf"))

        async def fire_at() -> object:
            return await _scalar(
                runtime, sa.select(t.timers.c.fire_at).where(t.timers.c.key.like("%/retention"))
            )

        assert await fire_at() == close_time + timedelta(days=1)  # type: ignore[operator]
        body = await _scalar(runtime, retention_timer)
        fire = FireTimer.model_validate(body["fire"])  # type: ignore[index]
        assert fire.kind is TimerKind.RETENTION and fire.run_id == run_id

        # First check, a day after the close: re-armed for close + 3 days.
        clock.advance(timedelta(days=1, minutes=1))
        await _send(runtime, fire)

        async def rearmed() -> bool:
            return await fire_at() == close_time + timedelta(days=3)  # type: ignore[operator]

        await wait_for(rearmed, timeout=20, what="the retention timer re-armed")
        # A duplicate of the first fire, before the retention ends, changes nothing.
        await _send(runtime, fire)
        clock.advance(timedelta(days=2))
        await _send(runtime, fire)

        async def purged() -> bool:
            return await _scalar(runtime, sa.select(sa.func.count()).select_from(t.executions)) == 0

        await wait_for(purged, timeout=20, what="the run purged")
        for table in (t.current_executions, t.history_events, t.timers):
            assert await _scalar(runtime, sa.select(sa.func.count()).select_from(table)) == 0, table.name
        # A stale fire for the purged run is harmless.
        await _send(runtime, fire)
        # The workflow id is free again: a new run, not a duplicate of the purged one.
        assert "StartWorkflowReply" in await _request(runtime, start.model_copy(update={"request_id": "r2"}))
        assert await _scalar(runtime, sa.select(sa.func.count()).select_from(t.executions)) == 1
    finally:
        await service.stop()
