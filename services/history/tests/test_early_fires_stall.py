"""Early timer fires must not stall their shard: each fire held until due is unacked and takes a
prefetch slot, and with the prefetch full of them the broker sent the shard nothing else (a start,
a signal, a worker's completion) until they were due: up to `fire_hold_max_seconds` (5 s) per
wave with a timer whose clock runs ahead, or as long as a forger keeps sending them. Now at most
half the prefetch is held until due, and a fire past that goes to the back of the queue. Both
modes, the clock injected (nothing waits on wall time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_history.timer_keys import timer_key
from tidal_schema import WorkflowExecutionStatus, names
from tidal_schema.messages import FireTimer, StartWorkflowExecution, TimerKind
from tidal_server.bus import OutMessage
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.service import Runtime

from tests.support.shard_zero import one_shard_runtime, run_written
from tests.support.stack import wait_for

PREFETCH = 8


@pytest.fixture(params=["embedded", "stack"])
async def rt(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with one_shard_runtime(
        request,
        tmp_path,
        connection_name="tidal-test-early-fires-stall",
        overrides={"history": {"prefetch": PREFETCH}},
    ) as runtime:
        yield runtime


async def test_a_prefetch_full_of_early_fires_does_not_stall_the_shard(rt: Runtime) -> None:
    """A prefetch's worth of fires due 1 s ahead (a timer whose clock runs ahead, or a shard's
    share of thousands of timers due at one instant, sent with the lead), then a start: the start
    is applied while the fires wait, and every fire is applied once, at or after its due time.
    Before: the start waited for the fires' due time (timed out here, the clock standing still)."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    service = build(rt)
    await service.start()
    try:
        runs = [await _start(rt, f"wf-{i}") for i in range(PREFETCH)]
        due = clock.now() + timedelta(seconds=1)
        for i, run_id in enumerate(runs):
            await _send(rt, _run_timeout(run_id, f"wf-{i}", due))
        await wait_for(lambda: _held(service, PREFETCH), timeout=15, what="the prefetch's worth of fires")
        await _send_start(rt, "behind-the-fires")
        # The fires past the cap give their places up after a short wait on the (injected) clock.
        clock.advance(timedelta(seconds=0.2))
        await wait_for(lambda: run_written(rt, "behind-the-fires"), timeout=15, what="the start behind")
        assert all([await _status(rt, r) == WorkflowExecutionStatus.RUNNING for r in runs])  # none early

        clock.advance(timedelta(seconds=0.8))
        await wait_for(lambda: _all_timed_out(rt, runs), timeout=30, what="every fire at its due time")
        async with rt.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.history_events.c.run_id, t.history_events.c.event_time).where(
                        t.history_events.c.event_type == "WorkflowExecutionTimedOut"
                    )
                )
            ).all()
        assert sorted(r.run_id for r in rows) == sorted(runs)  # each once
        assert all(r.event_time.replace(tzinfo=due.tzinfo) >= due for r in rows)
    finally:
        await service.stop()


async def test_fires_moved_behind_the_queue_that_are_still_early_go_round_until_due(rt: Runtime) -> None:
    """Fires past the cap that are still early when they come round again go round again (each at
    most every `EXCESS_WAIT` of the clock), and none is applied before its due time or lost."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    service = build(rt)
    await service.start()
    try:
        runs = [await _start(rt, f"wf-{i}") for i in range(PREFETCH)]
        due = clock.now() + timedelta(seconds=1)
        for i, run_id in enumerate(runs):
            await _send(rt, _run_timeout(run_id, f"wf-{i}", due))
        await wait_for(lambda: _held(service, PREFETCH), timeout=15, what="the fires to be held")
        excess = PREFETCH - PREFETCH // 2
        for k in range(1, 6):
            clock.advance(timedelta(seconds=0.1))
            moved, offered = k * excess, PREFETCH + k * excess
            await wait_for(lambda m=moved: _moved(service, m), timeout=15, what=f"round {k}'s moves")
            # Their copies are back (and waiting again) before the clock moves on.
            await wait_for(lambda o=offered: _held(service, o), timeout=15, what=f"round {k}'s copies")
        assert all([await _status(rt, r) == WorkflowExecutionStatus.RUNNING for r in runs])
        clock.advance(timedelta(seconds=0.5))
        await wait_for(lambda: _all_timed_out(rt, runs), timeout=30, what="every fire at its due time")
    finally:
        await service.stop()


def _run_timeout(run_id: str, workflow_id: str, due: object) -> FireTimer:
    return FireTimer.model_validate(
        {
            "workflow_id": workflow_id,
            "run_id": run_id,
            "kind": TimerKind.WORKFLOW_RUN_TIMEOUT,
            "key": timer_key(run_id, TimerKind.WORKFLOW_RUN_TIMEOUT),
            "fire_at": due,
        }
    )


async def _start(rt: Runtime, workflow_id: str) -> str:
    await _send_start(rt, workflow_id)
    await wait_for(lambda: run_written(rt, workflow_id), timeout=15, what="the start to commit")
    async with rt.engine.connect() as conn:
        query = sa.select(t.executions.c.run_id).where(t.executions.c.workflow_id == workflow_id)
        return str((await conn.execute(query)).scalar_one())


async def _send_start(rt: Runtime, workflow_id: str) -> None:
    await _send(
        rt,
        StartWorkflowExecution(
            workflow_id=workflow_id,
            workflow_type="T",
            task_queue="q",
            request_id=workflow_id,
            workflow_run_timeout=timedelta(hours=1),
        ),
    )


async def _send(rt: Runtime, msg: FireTimer | StartWorkflowExecution) -> None:
    headers = {names.FIRE_HEADER: "1"} if isinstance(msg, FireTimer) else {}
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=msg.model_dump_json().encode(),
            headers=headers,
        )
    )


async def _held(service: object, n: int) -> bool:
    return sum(p.early_fires.held_total for p in service.processors.values()) >= n  # type: ignore[attr-defined]


async def _moved(service: object, n: int) -> bool:
    return sum(p.early_fires.moved_total for p in service.processors.values()) >= n  # type: ignore[attr-defined]


async def _status(rt: Runtime, run_id: str) -> WorkflowExecutionStatus:
    async with rt.engine.connect() as conn:
        query = sa.select(t.executions.c.status).where(t.executions.c.run_id == run_id)
        return WorkflowExecutionStatus((await conn.execute(query)).scalar_one())


async def _all_timed_out(rt: Runtime, runs: list[str]) -> bool:
    return all([await _status(rt, r) == WorkflowExecutionStatus.TIMED_OUT for r in runs])
