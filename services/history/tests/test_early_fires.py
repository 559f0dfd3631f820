"""Timer fires sent ahead of their due time (the timer service's `fire_lead_seconds`) are held by
history, unacked, and applied at or after their `fire_at` on history's clock, never before: in
both modes (in-memory bus + SQLite, RabbitMQ + Postgres), with the clock injected. A duplicate is
applied once, a held fire survives the shard moving to another process, a held fire does not
stop the shard's other messages, a due time absurdly far ahead is held at most
`fire_hold_max_seconds`, and a malformed one is not held at all. (A fire that never arrives is
fired from the table by the timer service: services/timer/tests/test_table_reads.py.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import HistoryService, build
from tidal_history.timer_keys import timer_key
from tidal_schema import WorkflowExecutionStatus, names
from tidal_schema.messages import FireTimer, StartWorkflowExecution, TimerKind
from tidal_server.bus import OutMessage
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.service import Runtime

from tests.support.shard_zero import one_shard_runtime, run_written
from tests.support.stack import wait_for


@pytest.fixture(params=["embedded", "stack"])
async def rt(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with one_shard_runtime(request, tmp_path, connection_name="tidal-test-early-fires") as runtime:
        yield runtime


async def test_an_early_fire_is_held_until_its_due_time_and_applied_once(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    service = build(rt)
    await service.start()
    try:
        run_id = await _start(rt, "wf")
        due = clock.now() + timedelta(seconds=0.25)
        fire = _run_timeout(run_id, due)
        # Sent twice ahead of its due time (the timer service fires at least once).
        await _to_shard_zero(rt, fire)
        await _to_shard_zero(rt, fire)
        await wait_for(lambda: _held(service, 2), timeout=15, what="both copies to be held")
        # The shard goes on meanwhile: a start sent after the fire is applied while it waits.
        await _start(rt, "after-1")
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING

        clock.advance(timedelta(seconds=0.249))
        await _start(rt, "after-2")
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING  # 1 ms before: not yet

        clock.advance(timedelta(seconds=0.001))
        await wait_for(lambda: _timed_out(rt, run_id), timeout=15, what="the fire at its due time")
        async with rt.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.history_events.c.event_type, t.history_events.c.event_time)
                    .where(t.history_events.c.run_id == run_id)
                    .where(t.history_events.c.event_type == "WorkflowExecutionTimedOut")
                )
            ).all()
        assert len(rows) == 1  # the duplicate changed nothing
        assert _utc(rows[0].event_time) >= due  # stamped at or after the due time, never before
    finally:
        await service.stop()


async def test_a_held_fire_survives_the_shard_moving(rt: Runtime) -> None:
    """The process holding an early fire stops (a crash or a rebalance): the fire was never
    acked, so the broker gives it to the next owner, which holds it until due and applies it."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    first = build(rt)
    await first.start()
    run_id = await _start(rt, "wf")
    due = clock.now() + timedelta(seconds=0.25)
    await _to_shard_zero(rt, _run_timeout(run_id, due))
    try:
        await wait_for(lambda: _held(first, 1), timeout=15, what="the fire to be held")
    finally:
        await first.stop()
    second = build(rt)
    await second.start()
    try:
        await wait_for(lambda: _held(second, 1), timeout=15, what="the next owner to hold the fire")
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING
        clock.advance(timedelta(seconds=0.25))
        await wait_for(lambda: _timed_out(rt, run_id), timeout=15, what="the next owner to apply the fire")
    finally:
        await second.stop()


async def test_a_due_time_far_ahead_is_held_at_most_the_hold_limit(rt: Runtime) -> None:
    """A fire claiming a due time a day ahead (a clock far off, a forged message) must not sit in
    the shard's prefetch for a day: it is held `fire_hold_max_seconds` (5 s), then applied."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    service = build(rt)
    await service.start()
    try:
        run_id = await _start(rt, "wf")
        await _to_shard_zero(rt, _run_timeout(run_id, clock.now() + timedelta(days=1)))
        await wait_for(lambda: _held(service, 1), timeout=15, what="the fire to be held")
        clock.advance(timedelta(seconds=4.9))
        await _start(rt, "after")
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING
        clock.advance(timedelta(seconds=0.1))
        await wait_for(lambda: _timed_out(rt, run_id), timeout=15, what="the fire after the hold limit")
    finally:
        await service.stop()


async def test_a_fire_with_a_bad_due_time_is_not_held_and_does_not_stop_the_shard(rt: Runtime) -> None:
    """A `fire_at` without a time zone, or past year 9999's limit, makes the body no valid fire: it
    is not held (nothing to compare with the clock) and goes the way of any invalid message, while
    the shard goes on."""
    service = build(rt)
    await service.start()
    try:
        run_id = await _start(rt, "wf")
        good = _run_timeout(run_id, rt.clock.now()).model_dump(mode="json")
        for bad in ("2026-01-01T00:00:00", "10000-01-01T00:00:00Z", "\u0000"):
            body = json.dumps({**good, "fire_at": bad}).encode()
            await rt.bus.publish(
                OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)
            )
        await _start(rt, "after")
        assert not await _held(service, 1)
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING
    finally:
        await service.stop()


async def test_a_fire_past_the_body_scan_is_held_by_its_header(rt: Runtime) -> None:
    """A workflow id of 1,000 escaped control characters puts FireTimer's `"type"` about 6 KB into
    its body, past the 4 KB history scans before decoding; the timer service's header still marks
    it as a fire, so it is held until due, not applied up to its lead early (the marker alone
    failed this test)."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    service = build(rt)
    await service.start()
    try:
        workflow_id = "\u0001" * 1000
        run_id = await _start(rt, workflow_id, request_id="long-id")
        due = clock.now() + timedelta(seconds=0.25)
        fire = _run_timeout(run_id, due, workflow_id=workflow_id)
        body = fire.model_dump_json().encode()
        assert body.find(b'"type":"FireTimer"') > 4096
        await rt.bus.publish(
            OutMessage(
                exchange=names.HISTORY_EXCHANGE,
                routing_key=names.shard_routing_key(0),
                body=body,
                headers={names.FIRE_HEADER: due.isoformat()},
            )
        )
        await wait_for(lambda: _held(service, 1), timeout=15, what="the fire to be held")
        await _start(rt, "after")
        assert await _status(rt, run_id) == WorkflowExecutionStatus.RUNNING
        clock.advance(timedelta(seconds=0.25))
        await wait_for(lambda: _timed_out(rt, run_id), timeout=15, what="the fire at its due time")
    finally:
        await service.stop()


def _run_timeout(run_id: str, due: datetime, *, workflow_id: str = "wf") -> FireTimer:
    return FireTimer(
        workflow_id=workflow_id,
        run_id=run_id,
        kind=TimerKind.WORKFLOW_RUN_TIMEOUT,
        key=timer_key(run_id, TimerKind.WORKFLOW_RUN_TIMEOUT),
        fire_at=due,
    )


async def _start(rt: Runtime, workflow_id: str, *, request_id: str | None = None) -> str:
    start = StartWorkflowExecution(
        workflow_id=workflow_id,
        workflow_type="T",
        task_queue="q",
        request_id=request_id or workflow_id,
        workflow_run_timeout=timedelta(hours=1),
    )
    await _to_shard_zero(rt, start)
    await wait_for(lambda: run_written(rt, workflow_id), timeout=15, what="the start to commit")
    async with rt.engine.connect() as conn:
        query = sa.select(t.executions.c.run_id).where(t.executions.c.workflow_id == workflow_id)
        return str((await conn.execute(query)).scalar_one())


async def _to_shard_zero(rt: Runtime, msg: FireTimer | StartWorkflowExecution) -> None:
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=msg.model_dump_json().encode(),
        )
    )


async def _held(service: HistoryService, n: int) -> bool:
    return sum(p.early_fires.held_total for p in service.processors.values()) >= n


async def _status(rt: Runtime, run_id: str) -> WorkflowExecutionStatus:
    async with rt.engine.connect() as conn:
        query = sa.select(t.executions.c.status).where(t.executions.c.run_id == run_id)
        return WorkflowExecutionStatus((await conn.execute(query)).scalar_one())


async def _timed_out(rt: Runtime, run_id: str) -> bool:
    return await _status(rt, run_id) == WorkflowExecutionStatus.TIMED_OUT


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
