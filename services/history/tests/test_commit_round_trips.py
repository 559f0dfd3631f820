"""History's batch commit on Postgres costs one round trip, and a batch's starts one read: the
fence and every table's statement run inside `tidal_write_batch` (migration 0005), in the
implicit transaction of the one statement that calls it. Counted with asyncpg's query logger on
the engine's real connections (every statement a connection sends is logged once), against a
real Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_history.cache import RunCache, ShardCache
from tidal_history.limits import HistoryLimits
from tidal_history.mutation import Outgoing
from tidal_history.state import MutableState
from tidal_history.store import HistoryStore, RunWrite, VersionConflictError
from tidal_history.working_set import BatchState, WorkingSet
from tidal_schema import HistoryEvent, WorkflowExecutionStatus, names
from tidal_schema import events as ev
from tidal_schema.messages import (
    ErrorCode,
    ErrorReply,
    FireTimer,
    ScheduleTimer,
    StartWorkflowExecution,
    TimerKind,
    WorkflowClosed,
)
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
async def logged(fresh_database_url: str) -> AsyncIterator[tuple[AsyncEngine, list[str]]]:
    await migrate(fresh_database_url)
    engine = create_engine(fresh_database_url)
    sent: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda record: sent.append(record.query))

    event.listen(engine.sync_engine, "connect", on_connect)
    yield engine, sent
    for store in _opened:  # their held connections go back to the pool before it is disposed
        await store.close()
    _opened.clear()
    await engine.dispose()


_opened: list[HistoryStore] = []


def _new_store(engine: AsyncEngine) -> HistoryStore:
    store = HistoryStore(engine)
    _opened.append(store)
    return store


async def _delivered() -> None:
    """asyncpg calls query loggers with `call_soon` once a statement completes: one turn of the
    loop delivers the records of every statement completed so far (FIFO), so the counts below do
    not depend on how many turns the code under test happened to take."""
    await asyncio.sleep(0)


def _state(run_id: str, workflow_id: str) -> MutableState:
    return MutableState(
        namespace="default",
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="T",
        task_queue="q",
        shard_id=0,
        start_time=NOW,
        start_request_id=f"req-{run_id}",
    )


def _timer(run_id: str, n: int) -> ScheduleTimer:
    key = f"{run_id}/user/t={n}"
    fire = FireTimer(workflow_id="wf", run_id=run_id, kind=TimerKind.USER_TIMER, key=key, timer_id=str(n))
    return ScheduleTimer(shard_id=0, key=key, fire_at=NOW + timedelta(seconds=n), fire=fire)


def _events(first: int, count: int) -> list[HistoryEvent]:
    return [
        HistoryEvent(event_id=i, event_time=NOW, attributes=ev.WorkflowTaskScheduled(task_queue="q"))
        for i in range(first, first + count)
    ]


def _closed(n: int) -> Outgoing:
    message = WorkflowClosed(workflow_id=f"wf-{n}", run_id="r", status=WorkflowExecutionStatus.COMPLETED)
    return Outgoing(exchange=names.NOTIFY_EXCHANGE, routing_key=f"k{n}", message=message)


async def _rows(engine: AsyncEngine, table: sa.Table, *order: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(table).order_by(*(table.c[o] for o in order)))
        return [dict(r._mapping) for r in result]


async def test_a_batch_of_every_kind_of_row_is_one_statement(logged: tuple[AsyncEngine, list[str]]) -> None:
    engine, sent = logged
    store = _new_store(engine)
    range_id = await store.acquire_shard(0, "h1")
    old, closing = _state("run-old", "old"), _state("run-closing", "closing")
    first = await store.commit(
        shard_id=0,
        range_id=range_id,
        writes=[
            RunWrite(state=old, old_version=None, timers={_timer("run-old", 1).key: _timer("run-old", 1)}),
            RunWrite(state=closing, old_version=None, outbox=[_closed(0)]),
        ],
    )
    # Everything a busy batch holds: a new run, a changed run (its timer deleted, another set, a
    # memo upserted), a run that closes, events, outbox rows, and last batch's published seqs.
    old.next_event_id = 4
    closing.status, closing.close_time = WorkflowExecutionStatus.COMPLETED, NOW
    fresh = _state("run-new", "new")
    writes = [
        RunWrite(state=fresh, old_version=None, events=_events(1, 2), outbox=[_closed(1)]),
        RunWrite(
            state=old,
            old_version=1,
            events=_events(1, 3),
            timers={_timer("run-old", 1).key: None, _timer("run-old", 2).key: _timer("run-old", 2)},
            memo={"m": {"data": 2}},
            memo_changed=True,
            outbox=[_closed(2), _closed(3)],
        ),
        RunWrite(state=closing, old_version=1, events=_events(1, 1)),
    ]
    await _delivered()
    sent.clear()
    published = await store.commit(
        shard_id=0, range_id=range_id, writes=writes, published_seqs=[p.seq for p in first]
    )

    await _delivered()
    assert len(sent) == 1, sent
    assert [p.routing_key for p in published] == ["k1", "k2", "k3"]
    assert [p.seq for p in await store.pending_outbox(0)] == [p.seq for p in published]
    runs = {r["run_id"]: r for r in await _rows(engine, t.executions, "run_id")}
    assert {k: (r["version"], r["status"]) for k, r in runs.items()} == {
        "run-closing": (2, "Completed"),
        "run-new": (1, "Running"),
        "run-old": (2, "Running"),
    }
    assert runs["run-old"]["memo"] == {"m": {"data": 2}} and runs["run-old"]["state"]["next_event_id"] == 4
    current = await _rows(engine, t.current_executions, "workflow_id")
    assert [(c["workflow_id"], c["status"]) for c in current] == [
        ("closing", "Completed"),
        ("new", "Running"),
        ("old", "Running"),
    ]
    assert [r["key"] for r in await _rows(engine, t.timers, "key")] == ["run-old/user/t=2"]
    assert len(await _rows(engine, t.history_events, "run_id", "event_id")) == 6


async def test_a_version_conflict_names_its_run_and_leaves_nothing(
    logged: tuple[AsyncEngine, list[str]],
) -> None:
    engine, _ = logged
    store = _new_store(engine)
    range_id = await store.acquire_shard(0, "h1")
    a = _state("run-a", "a")
    await store.commit(shard_id=0, range_id=range_id, writes=[RunWrite(state=a, old_version=None)])
    b = _state("run-b", "b")
    with pytest.raises(VersionConflictError, match=r"run run-a changed concurrently \(expected version 3\)"):
        await store.commit(
            shard_id=0,
            range_id=range_id,
            writes=[
                RunWrite(state=b, old_version=None),
                RunWrite(state=a, old_version=3, events=_events(1, 1)),
            ],
        )
    assert [r["run_id"] for r in await _rows(engine, t.executions, "run_id")] == ["run-a"]
    assert await _rows(engine, t.history_events, "event_id") == []


async def test_the_starts_of_a_batch_read_their_current_runs_in_one_statement(
    logged: tuple[AsyncEngine, list[str]],
) -> None:
    """Six starts in one batch (one of a workflow id that already runs, one id twice): one read of
    `current_executions` for all of them, and each start sees what it saw when each read its own:
    the running id is refused, the id started earlier in the batch is answered as a duplicate."""
    engine, sent = logged
    store = _new_store(engine)
    range_id = await store.acquire_shard(0, "h1")
    working = WorkingSet(
        shard_id=0,
        shard_count=1,
        store=store,
        cache=ShardCache(RunCache(max_bytes=1 << 20, max_runs=100), 0),
        limits=HistoryLimits(),
    )

    def start(workflow_id: str, request_id: str) -> StartWorkflowExecution:
        return StartWorkflowExecution(
            workflow_id=workflow_id, workflow_type="T", task_queue="q", request_id=request_id
        )

    first = BatchState(now=NOW)
    await working.apply(first, start("wf-0", "r0"))
    await store.commit(shard_id=0, range_id=range_id, writes=first.writes())
    working.cache_committed(first)

    msgs = [start("wf-0", "other"), *(start(f"wf-{n}", f"r{n}") for n in range(1, 5)), start("wf-1", "r1")]
    batch = BatchState(now=NOW)
    await _delivered()
    sent.clear()
    await working.preload_currents(batch, msgs)
    outcomes = [await working.apply(batch, m) for m in msgs]
    await _delivered()
    # The join of the keys to current_executions runs inside tidal_load_currents (migration 0006).
    reads = [
        q
        for q in sent
        if q.lstrip().upper().startswith("SELECT")
        and ("current_executions" in q or "tidal_load_currents" in q)
    ]
    assert len(reads) == 1, sent
    await store.commit(shard_id=0, range_id=range_id, writes=batch.writes())

    runs = await _rows(engine, t.executions, "workflow_id")
    assert [r["workflow_id"] for r in runs] == ["wf-0", "wf-1", "wf-2", "wf-3", "wf-4"]
    replies = [o.reply for o in outcomes]
    assert isinstance(replies[0], ErrorReply) and replies[0].code is ErrorCode.ALREADY_STARTED, replies[0]
    assert replies[5] is not None and replies[5] == replies[1], (replies[1], replies[5])
