"""The cached "current run" of a workflow id follows `current_executions` and nothing else.

Issue 9, defect 2: a day after run A continued as new to B, A's retention check fired, re-armed,
and the commit re-cached A as the id's current run; from then on a signal by workflow id went
to the closed A ("no running workflow ... to signal") while B was running. Played here on SQLite
and on Postgres, with a FakeClock and the test standing in for the timer service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_history.app import HistoryService, build
from tidal_schema import names
from tidal_schema.commands import ContinueAsNewWorkflowExecution
from tidal_schema.messages import (
    CompleteWorkflowTask,
    FireTimer,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
)
from tidal_server.bus import InMemoryBus, OutMessage
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for

WF = "entity"


@pytest.fixture(params=["sqlite", "postgres", "sqlite-no-cache", "sqlite-on-loop-no-cache"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    if request.param.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    else:
        url = request.getfixturevalue("fresh_database_url")
    # A one-byte cache budget evicts every run as soon as it is cached (pointer included).
    overrides = {"history": {"cache_max_bytes": 1}} if request.param.endswith("no-cache") else {}
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    # on-loop: the embedded mode's engine (its reads and batches on the driver's connection).
    engine = create_engine(url, sqlite_on_loop="on-loop" in request.param)
    # embedded=True: one process owns every shard (no membership heartbeats on the fake clock).
    yield Runtime(
        bus=bus,
        engine=engine,
        member_id="h1",
        shard_count=1,
        clock=FakeClock(),
        embedded=True,
        overrides=overrides,
    )
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


async def _send(runtime: Runtime, msg: Any) -> None:
    await runtime.bus.publish(_out(msg))


async def _request(runtime: Runtime, msg: Any) -> dict[str, Any]:
    """Request/reply: history has committed the batch when it answers."""
    reply = await runtime.bus.request(_out(msg), timeout=20)
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


async def _scalar(runtime: Runtime, query: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return (await conn.execute(query)).scalar()


async def _current_run(runtime: Runtime) -> str | None:
    ce = t.current_executions.c
    run_id: str | None = await _scalar(runtime, sa.select(ce.run_id).where(ce.workflow_id == WF))
    return run_id


async def _retention_fire(runtime: Runtime, run_id: str) -> FireTimer:
    body = await _scalar(runtime, sa.select(t.timers.c.body).where(t.timers.c.key == f"{run_id}/retention"))
    return FireTimer.model_validate(body["fire"])


async def _retention_due(runtime: Runtime, run_id: str) -> Any:
    return await _scalar(
        runtime, sa.select(t.timers.c.fire_at).where(t.timers.c.key == f"{run_id}/retention")
    )


async def _continue_as_new(runtime: Runtime) -> tuple[str, str]:
    """Start A and complete its first workflow task with ContinueAsNew; returns (A, B)."""
    start = StartWorkflowExecution(workflow_id=WF, workflow_type="T", task_queue="q", request_id="r1")
    a = (await _request(runtime, start))["run_id"]
    can = ContinueAsNewWorkflowExecution(workflow_type="T", task_queue="q")
    await _send(
        runtime, CompleteWorkflowTask(workflow_id=WF, run_id=a, scheduled_event_id=2, commands=(can,))
    )

    async def moved() -> bool:
        return await _current_run(runtime) not in (None, a)

    await wait_for(moved, timeout=20, what="the continue-as-new successor")
    b = await _current_run(runtime)
    assert b is not None
    return a, b


async def _rearm_retention(runtime: Runtime, run_id: str) -> None:
    """A's first retention check, a day after its close: it re-arms (the namespace keeps 30 days)."""
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    fire = await _retention_fire(runtime, run_id)
    first_due = await _retention_due(runtime, run_id)
    clock.advance(timedelta(days=1, minutes=1))
    await _send(runtime, fire)

    async def rearmed() -> bool:
        return bool(await _retention_due(runtime, run_id) > first_due)

    await wait_for(rearmed, timeout=20, what="the retention check to re-arm")


async def test_a_signal_by_id_reaches_the_successor_after_the_old_runs_retention_check(
    runtime: Runtime, service: HistoryService
) -> None:
    a, b = await _continue_as_new(runtime)
    await _rearm_retention(runtime, a)

    signal = SignalWorkflowExecution(workflow_id=WF, signal_name="go", request_id="sig-1")
    reply = await _request(runtime, signal)
    assert reply == {**reply, "type": "AckReply", "run_id": b}, reply
    # Cancel and terminate by id take the same path.
    reply = await _request(runtime, TerminateWorkflowExecution(workflow_id=WF, reason="done"))
    assert reply["type"] == "AckReply", reply
    ex = t.executions.c
    assert await _scalar(runtime, sa.select(ex.status).where(ex.run_id == b)) == "Terminated"


async def test_a_signal_by_id_reaches_a_restarted_run_after_the_old_runs_retention_check(
    runtime: Runtime, service: HistoryService
) -> None:
    """The same for a workflow id reused after its run closed (a restart)."""
    first = StartWorkflowExecution(workflow_id=WF, workflow_type="T", task_queue="q", request_id="r1")
    a = (await _request(runtime, first))["run_id"]
    await _request(runtime, TerminateWorkflowExecution(workflow_id=WF, reason="restart"))
    b = (await _request(runtime, first.model_copy(update={"request_id": "r2"})))["run_id"]
    assert b != a and await _current_run(runtime) == b
    await _rearm_retention(runtime, a)
    reply = await _request(runtime, SignalWorkflowExecution(workflow_id=WF, signal_name="go", request_id="s"))
    assert reply["type"] == "AckReply" and reply["run_id"] == b, reply


async def test_purging_the_old_run_keeps_the_successor_current(
    runtime: Runtime, service: HistoryService
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.update(t.namespaces).values(retention_days=2))
    a, b = await _continue_as_new(runtime)
    await _rearm_retention(runtime, a)
    clock.advance(timedelta(days=2))
    await _send(runtime, await _retention_fire(runtime, a))
    ex = t.executions.c

    async def purged() -> bool:
        return bool(await _scalar(runtime, sa.select(sa.func.count()).where(ex.run_id == a)) == 0)

    await wait_for(purged, timeout=20, what="the old run purged")
    assert await _current_run(runtime) == b
    reply = await _request(runtime, SignalWorkflowExecution(workflow_id=WF, signal_name="go", request_id="s"))
    assert reply["type"] == "AckReply" and reply["run_id"] == b, reply


async def test_after_a_failed_batch_the_pointer_is_read_again(
    runtime: Runtime, service: HistoryService
) -> None:
    """A batch that fails drops the shard's cached runs and pointers; the retry reads
    current_executions again. The failure here: B's row changed behind history's back (as after
    an ownership change), so the commit's version check fails once."""
    a, b = await _continue_as_new(runtime)
    await _rearm_retention(runtime, a)
    async with runtime.engine.begin() as conn:
        ex = t.executions.c
        await conn.execute(sa.update(t.executions).where(ex.run_id == b).values(version=ex.version + 1))
    reply = await _request(runtime, SignalWorkflowExecution(workflow_id=WF, signal_name="go", request_id="s"))
    assert reply["type"] == "AckReply" and reply["run_id"] == b, reply
