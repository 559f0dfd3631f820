"""What the batch commit leaves in the database (issue 9, defect 9), on SQLite and Postgres:

- a timer set and deleted in the same batch leaves no row (the row would be fired stale on
  every shard takeover, forever);
- a retention purge leaves no row of the run in any table keyed by it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_history.app import HistoryService, build
from tidal_schema import Payload, names
from tidal_schema.messages import (
    FireTimer,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
)
from tidal_server.bus import InMemoryBus, OutMessage
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


@pytest.fixture(params=["sqlite", "postgres"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    else:
        url = request.getfixturevalue("fresh_database_url")
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    engine = create_engine(url)
    yield Runtime(bus=bus, engine=engine, member_id="h1", shard_count=1, clock=FakeClock(), embedded=True)
    await engine.dispose()
    await bus.close()


@pytest.fixture
async def service(runtime: Runtime) -> AsyncIterator[HistoryService]:
    service = build(runtime)
    await service.start()
    yield service
    await service.stop()


def _out(msg: Any) -> OutMessage:
    body = msg.model_dump_json().encode()
    return OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)


async def _request(runtime: Runtime, msg: Any) -> dict[str, Any]:
    reply = await runtime.bus.request(_out(msg), timeout=20)
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


async def _scalar(runtime: Runtime, query: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return (await conn.execute(query)).scalar()


async def _timer_keys(runtime: Runtime) -> list[str]:
    async with runtime.engine.connect() as conn:
        return sorted((await conn.execute(sa.select(t.timers.c.key))).scalars())


async def test_a_timer_set_and_deleted_in_one_batch_leaves_no_row(
    runtime: Runtime, service: HistoryService
) -> None:
    # The start sets the workflow task timeout; the terminate, in the same batch, deletes it.
    start = StartWorkflowExecution(workflow_id="wf", workflow_type="T", task_queue="q", request_id="r1")
    terminate = TerminateWorkflowExecution(workflow_id="wf", reason="at once")
    processor = service.processors[0]
    before = processor.processed
    await runtime.bus.publish_many([_out(start), _out(terminate)])

    async def both_done() -> bool:
        return processor.processed >= before + 2

    await wait_for(both_done, timeout=20, what="the batch")
    ex = t.executions.c
    assert await _scalar(runtime, sa.select(ex.status).where(ex.workflow_id == "wf")) == "Terminated"
    run_id = await _scalar(runtime, sa.select(ex.run_id).where(ex.workflow_id == "wf"))
    # Only the closed run's retention check is left.
    assert await _timer_keys(runtime) == [f"{run_id}/retention"]


async def test_a_timer_set_again_later_in_the_batch_keeps_the_last_fire_time(
    runtime: Runtime, service: HistoryService
) -> None:
    """The close sets the retention check a day out; a retention fire in the same batch (an
    early duplicate) re-arms the same key for close + 30 days: the row must hold the later."""
    start = StartWorkflowExecution(workflow_id="wf", workflow_type="T", task_queue="q", request_id="r1")
    run_id = (await _request(runtime, start))["run_id"]
    key = f"{run_id}/retention"
    terminate = TerminateWorkflowExecution(workflow_id="wf", reason="done")
    fire = FireTimer(workflow_id="wf", run_id=run_id, kind=TimerKind.RETENTION, key=key)
    processor = service.processors[0]
    before = processor.processed
    await runtime.bus.publish_many([_out(terminate), _out(fire)])

    async def both_done() -> bool:
        return processor.processed >= before + 2

    await wait_for(both_done, timeout=20, what="the batch")
    assert await _timer_keys(runtime) == [key]
    close_time = await _scalar(runtime, sa.select(t.executions.c.close_time))
    due = await _scalar(runtime, sa.select(t.timers.c.fire_at).where(t.timers.c.key == key))
    assert due == close_time + timedelta(days=30)


def _per_run_tables() -> list[sa.Table]:
    """Every table with a run_id column: a new one is checked without editing this test."""
    return [table for table in t.metadata.sorted_tables if "run_id" in table.c]


async def _rows_of_run(runtime: Runtime, run_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with runtime.engine.connect() as conn:
        for table in _per_run_tables():
            n = (await conn.execute(sa.select(sa.func.count()).where(table.c.run_id == run_id))).scalar_one()
            counts[table.name] = int(n)
        # Timers and outbox rows name the run inside: the timer key starts with it, an outbox
        # body carries it.
        timers = sa.select(sa.func.count()).where(t.timers.c.key.startswith(f"{run_id}/"))
        counts["timers"] = int((await conn.execute(timers)).scalar_one())
    return counts


async def test_a_retention_purge_leaves_no_row_of_the_run(runtime: Runtime, service: HistoryService) -> None:
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.update(t.namespaces).values(retention_days=2))
    start = StartWorkflowExecution(
        workflow_id="wf",
        workflow_type="T",
        task_queue="q",
        request_id="r1",
        memo={"note": Payload(data="kept with the run")},
        search_attributes={"CustomerId": "c-1", "Amount": 3},
    )
    run_id = (await _request(runtime, start))["run_id"]
    signal = SignalWorkflowExecution(workflow_id="wf", signal_name="s", request_id="s1")
    assert (await _request(runtime, signal))["type"] == "AckReply"
    await _request(runtime, TerminateWorkflowExecution(workflow_id="wf", reason="done"))
    before = await _rows_of_run(runtime, run_id)
    assert {"executions", "current_executions", "history_events", "search_attribute_values"} <= {
        name for name, n in before.items() if n
    }, before
    key = f"{run_id}/retention"
    processor = service.processors[0]
    for days in (1, 2):  # the first check re-arms, the second purges
        body = await _scalar(runtime, sa.select(t.timers.c.body).where(t.timers.c.key == key))
        clock.advance(timedelta(days=1, minutes=1))
        done = processor.processed + 1
        await runtime.bus.publish(_out(FireTimer.model_validate(body["fire"])))

        async def applied(done: int = done) -> bool:
            return processor.processed >= done

        await wait_for(applied, timeout=20, what=f"retention check {days}")
    assert await _rows_of_run(runtime, run_id) == dict.fromkeys(before, 0)
