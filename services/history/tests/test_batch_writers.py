"""The batch writers (batch_pg.py on asyncpg, batch_sqlite.py on SQLite's driver, batch_sql.py on
SQLAlchemy Core) leave the same rows for the same batch, on Postgres and SQLite, including the
cases a one-statement-per-table writer gets wrong: two new runs of one workflow id in one batch
(ON CONFLICT cannot touch a row twice), the outbox's order across many rows, a version conflict
among several runs, and a document Postgres refuses (a NUL), which must fail the whole batch as
the message's fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_history.limits import event_size
from tidal_history.mutation import Outgoing
from tidal_history.state import MutableState
from tidal_history.store import HistoryStore, RunWrite, ShardLostError, VersionConflictError
from tidal_history.store_types import event_rows
from tidal_schema import HistoryEvent, Payload, WorkflowExecutionStatus, names
from tidal_schema import events as ev
from tidal_schema.messages import FireTimer, ScheduleTimer, TimerKind, WorkflowClosed
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.faults import is_transient

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "sqlite-on-loop", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    else:
        url = request.getfixturevalue("fresh_database_url")
    await migrate(url)
    # sqlite-on-loop: the embedded mode's engine (one connection, statements on the loop's thread).
    engine = create_engine(url, sqlite_on_loop=request.param == "sqlite-on-loop")
    yield engine
    for store in _opened:  # their held connections go back to the pool before it is disposed
        await store.close()
    _opened.clear()
    await engine.dispose()


_opened: list[HistoryStore] = []


def _new_store(engine: AsyncEngine) -> HistoryStore:
    store = HistoryStore(engine)
    _opened.append(store)
    return store


async def _store(engine: AsyncEngine) -> HistoryStore:
    store = _new_store(engine)
    assert await store.acquire_shard(0, "h1") == 2
    return store


def _state(run_id: str, *, workflow_id: str = "wf", status: str = "Running") -> MutableState:
    return MutableState(
        namespace="default",
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="T",
        task_queue="q",
        shard_id=0,
        start_time=NOW,
        start_request_id=f"req-{run_id}",
        status=WorkflowExecutionStatus(status),
    )


def _events(first: int, count: int) -> list[HistoryEvent]:
    return [
        HistoryEvent(event_id=i, event_time=NOW, attributes=ev.WorkflowTaskScheduled(task_queue="q"))
        for i in range(first, first + count)
    ]


def _timer(run_id: str, n: int) -> ScheduleTimer:
    key = f"{run_id}/user/t={n}"
    fire = FireTimer(workflow_id="wf", run_id=run_id, kind=TimerKind.USER_TIMER, key=key, timer_id=str(n))
    return ScheduleTimer(shard_id=0, key=key, fire_at=NOW + timedelta(seconds=n), fire=fire)


def _closed(run_id: str, n: int) -> Outgoing:
    message = WorkflowClosed(workflow_id=f"wf-{n}", run_id=run_id, status=WorkflowExecutionStatus.COMPLETED)
    return Outgoing(
        exchange=names.NOTIFY_EXCHANGE, routing_key=f"k{n}", message=message, headers={"n": str(n)}
    )


async def _rows(engine: AsyncEngine, table: sa.Table, *order: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(table).order_by(*(table.c[o] for o in order)))
        return [dict(r._mapping) for r in result]


async def test_two_new_runs_of_one_workflow_in_one_batch(engine: AsyncEngine) -> None:
    """A start and its continue-as-new successor committed together: both runs, all events, the
    successor current; the outbox comes back in the batch's order with ascending seqs."""
    store = await _store(engine)
    first = _state("run-a", status="ContinuedAsNew")
    first.close_time = NOW
    first.result = (Payload(data="done"),)
    first.next_event_id = 4
    second = _state("run-b")
    second.next_event_id = 2
    outbox = [_closed("run-a", n) for n in range(40)]
    writes = [
        RunWrite(
            state=first,
            old_version=None,
            events=_events(1, 3),
            timers={_timer("run-a", 1).key: _timer("run-a", 1), _timer("run-a", 2).key: None},
            outbox=outbox[:25],
            memo={"m": {"data": 1}},
            search_attributes={},
        ),
        RunWrite(state=second, old_version=None, events=_events(1, 1), outbox=outbox[25:]),
    ]
    published = await store.commit(shard_id=0, range_id=2, writes=writes)

    assert [p.routing_key for p in published] == [f"k{n}" for n in range(40)]
    seqs = [p.seq for p in published]
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
    pending = await store.pending_outbox(0)
    assert [(p.seq, p.routing_key, dict(p.headers)) for p in pending] == [
        (p.seq, p.routing_key, {"n": p.routing_key[1:]}) for p in published
    ]
    assert [p.body for p in pending] == [o.message.model_dump_json().encode() for o in outbox]

    current = await _rows(engine, t.current_executions, "workflow_id")
    assert [(c["run_id"], c["status"], c["start_request_id"]) for c in current] == [
        ("run-b", "Running", "req-run-b")
    ]
    runs = await _rows(engine, t.executions, "run_id")
    assert [(r["run_id"], r["status"], r["version"], r["next_event_id"]) for r in runs] == [
        ("run-a", "ContinuedAsNew", 1, 4),
        ("run-b", "Running", 1, 2),
    ]
    assert runs[0]["result"] == {"result": [{"data": "done", "metadata": {"encoding": "json/plain"}}]}
    assert runs[1]["result"] is None
    assert runs[0]["memo"] == {"m": {"data": 1}} and runs[1]["memo"] == {}
    assert MutableState.model_validate(runs[0]["state"]) == first
    assert runs[0]["close_time"] == NOW and runs[0]["start_time"] == NOW
    events = await _rows(engine, t.history_events, "run_id", "event_id")
    assert [(e["run_id"], e["event_id"], e["event_type"]) for e in events] == [
        ("run-a", 1, "WorkflowTaskScheduled"),
        ("run-a", 2, "WorkflowTaskScheduled"),
        ("run-a", 3, "WorkflowTaskScheduled"),
        ("run-b", 1, "WorkflowTaskScheduled"),
    ]
    assert HistoryEvent.model_validate(events[0]["data"]) == writes[0].events[0]
    assert events[0]["event_time"] == NOW
    timers = await _rows(engine, t.timers, "key")
    assert [(r["key"], r["fire_at"]) for r in timers] == [("run-a/user/t=1", NOW + timedelta(seconds=1))]
    assert ScheduleTimer.model_validate(timers[0]["body"]) == _timer("run-a", 1)
    # What the cache charges the runs by.
    assert writes[0].state_chars == len(first.model_dump_json())
    assert writes[0].events_chars == sum(len(e.model_dump_json()) for e in writes[0].events)


async def test_a_version_conflict_among_several_runs_fails_the_whole_batch(engine: AsyncEngine) -> None:
    store = await _store(engine)
    a, b = _state("run-a", workflow_id="a"), _state("run-b", workflow_id="b")
    await store.commit(
        shard_id=0,
        range_id=2,
        writes=[RunWrite(state=a, old_version=None), RunWrite(state=b, old_version=None)],
    )
    a.next_event_id, b.next_event_id = 5, 6
    b.status, b.close_time = WorkflowExecutionStatus.COMPLETED, NOW
    stale = [
        RunWrite(state=a, old_version=1, events=_events(1, 4), outbox=[_closed("run-a", 1)]),
        RunWrite(state=b, old_version=7, events=_events(1, 5)),
    ]
    with pytest.raises(VersionConflictError, match="run-b"):
        await store.commit(shard_id=0, range_id=2, writes=stale)
    # Nothing of the batch stayed, not even run a's part.
    runs = await _rows(engine, t.executions, "run_id")
    assert [(r["run_id"], r["version"], r["next_event_id"]) for r in runs] == [
        ("run-a", 1, 1),
        ("run-b", 1, 1),
    ]
    assert await _rows(engine, t.history_events, "event_id") == []
    assert await store.pending_outbox(0) == []

    fresh = [
        RunWrite(state=a, old_version=1, events=_events(1, 4)),
        RunWrite(state=b, old_version=1, events=_events(1, 5)),
    ]
    await store.commit(shard_id=0, range_id=2, writes=fresh)
    runs = await _rows(engine, t.executions, "run_id")
    assert [(r["run_id"], r["version"], r["status"]) for r in runs] == [
        ("run-a", 2, "Running"),
        ("run-b", 2, "Completed"),
    ]
    current = await _rows(engine, t.current_executions, "workflow_id")
    assert [(c["workflow_id"], c["status"]) for c in current] == [("a", "Running"), ("b", "Completed")]


async def test_a_version_conflict_on_a_run_that_stays_running_fails_the_batch(engine: AsyncEngine) -> None:
    """The update of a run that stays running (on SQLite a statement of its own, without status
    and close_time) checks the version as the closing one does."""
    store = await _store(engine)
    a = _state("run-a", workflow_id="a")
    await store.commit(shard_id=0, range_id=2, writes=[RunWrite(state=a, old_version=None)])
    a.next_event_id = 5
    with pytest.raises(VersionConflictError, match="run-a"):
        await store.commit(
            shard_id=0, range_id=2, writes=[RunWrite(state=a, old_version=3, events=_events(1, 4))]
        )
    await store.commit(
        shard_id=0, range_id=2, writes=[RunWrite(state=a, old_version=1, events=_events(1, 4))]
    )
    runs = await _rows(engine, t.executions, "run_id")
    assert [(r["run_id"], r["version"], r["status"], r["close_time"], r["next_event_id"]) for r in runs] == [
        ("run-a", 2, "Running", None, 5)
    ]
    assert len(await _rows(engine, t.history_events, "event_id")) == 4


async def test_a_stale_owner_writes_nothing_and_its_connection_stays_usable(engine: AsyncEngine) -> None:
    """The fence (on Postgres sent with BEGIN in one round trip) refuses a stale range_id: the
    batch is rolled back whole, and the pooled connection is not left inside a transaction."""
    store = await _store(engine)
    a = _state("run-a", workflow_id="a")
    with pytest.raises(ShardLostError):
        await store.commit(
            shard_id=0, range_id=1, writes=[RunWrite(state=a, old_version=None, outbox=[_closed("run-a", 1)])]
        )
    assert await _rows(engine, t.executions, "run_id") == []
    assert await store.pending_outbox(0) == []
    for _ in range(3):  # every pooled connection answers, none stuck in the failed transaction
        await store.commit(shard_id=0, range_id=2, writes=[])
    await store.commit(shard_id=0, range_id=2, writes=[RunWrite(state=a, old_version=None)])
    assert [r["run_id"] for r in await _rows(engine, t.executions, "run_id")] == ["run-a"]


async def test_a_document_the_database_refuses_fails_the_batch_as_the_messages_fault(
    engine: AsyncEngine,
) -> None:
    """A NUL inside a JSON string: Postgres's jsonb refuses it (SQLSTATE 22P05), SQLite keeps
    it. Where refused, nothing of the batch stays and the error counts against the message
    (the batch failure policy isolates it), exactly as through SQLAlchemy."""
    store = await _store(engine)
    good = _state("run-ok", workflow_id="ok")
    bad = _state("run-nul", workflow_id="nul")
    bad.last_wft_failure_cause = "a\x00b"
    writes = [RunWrite(state=good, old_version=None), RunWrite(state=bad, old_version=None)]
    if engine.dialect.name == "sqlite":
        await store.commit(shard_id=0, range_id=2, writes=writes)
        return
    with pytest.raises(Exception) as caught:
        await store.commit(shard_id=0, range_id=2, writes=writes)
    assert not is_transient(caught.value), caught.value
    assert await _rows(engine, t.executions, "run_id") == []


async def test_search_attributes_are_indexed_in_the_same_transaction(engine: AsyncEngine) -> None:
    """A batch with attributes to index takes SQLAlchemy's transaction on Postgres (the
    visibility writer), the others asyncpg's: both leave the document and the typed rows, and a
    batch that fails leaves neither."""
    store = await _store(engine)
    a = _state("run-a", workflow_id="a")
    await store.commit(
        shard_id=0,
        range_id=2,
        writes=[RunWrite(state=a, old_version=None, search_attributes={"CustomerId": "c1", "Amount": 5})],
    )
    upsert = HistoryEvent(
        event_id=1,
        event_time=NOW,
        attributes=ev.UpsertWorkflowSearchAttributes(
            search_attributes={"Amount": 7, "CustomerId": None}, workflow_task_completed_event_id=1
        ),
    )
    a.next_event_id = 2
    b = _state("run-b", workflow_id="b")
    with pytest.raises(VersionConflictError):
        await store.commit(
            shard_id=0,
            range_id=2,
            writes=[RunWrite(state=a, old_version=1, events=[upsert]), RunWrite(state=b, old_version=3)],
        )
    values = await _rows(engine, t.search_attribute_values, "name")
    assert [(v["name"], v["str_value"], v["int_value"]) for v in values] == [
        ("Amount", None, 5),
        ("CustomerId", "c1", None),
    ]
    await store.commit(shard_id=0, range_id=2, writes=[RunWrite(state=a, old_version=1, events=[upsert])])
    values = await _rows(engine, t.search_attribute_values, "name")
    assert [(v["name"], v["int_value"]) for v in values] == [("Amount", 7)]
    runs = await _rows(engine, t.executions, "run_id")
    assert runs[0]["search_attributes"] == {"Amount": 7} and runs[0]["version"] == 2
    with pytest.raises(Exception, match="another history process"):
        await store.commit(shard_id=0, range_id=1, writes=[RunWrite(state=b, old_version=None)])


def test_events_are_serialized_once_for_the_size_limit_the_row_and_the_cache() -> None:
    w = RunWrite(state=_state("run-a"), old_version=None)
    first, more = _events(1, 2), _events(3, 3)
    sizes = w.add_events(first) + w.add_events(more)
    assert sizes == sum(event_size(e) for e in first + more)
    rows = list(event_rows([w]))
    # The stored text is the very string the size was taken from, not a second serialization.
    assert all(row[6] is data for row, data in zip(rows, w.event_json, strict=True))
    assert w.events_chars == sizes and [row[3] for row in rows] == [1, 2, 3, 4, 5]
    # Events appended without their JSON (as tests and older callers do) are serialized here.
    w.events.append(_events(6, 1)[0])
    assert [row[3] for row in event_rows([w])] == [1, 2, 3, 4, 5, 6]
    assert w.add_events(_events(7, 1)) == event_size(_events(7, 1)[0]) and len(w.event_json) == 7


async def test_outbox_seqs_match_their_rows_while_shards_commit_at_once(engine: AsyncEngine) -> None:
    """The seqs a commit hands back are what the relay and the deletion of published rows go by:
    a seq paired with another row's message would re-send one message and drop another. Four
    shards commit 300 messages each at the same time (their seqs interleave in the sequence)."""
    store = _new_store(engine)
    shards = range(4)
    ranges = {s: await store.acquire_shard(s, "h1") for s in shards}

    async def commit(shard: int) -> list[Any]:
        st = _state(f"run-{shard}", workflow_id=f"wf-{shard}")
        st.shard_id = shard
        outbox = [_closed(f"run-{shard}", n) for n in range(300)]
        write = RunWrite(state=st, old_version=None, outbox=outbox)
        return await store.commit(shard_id=shard, range_id=ranges[shard], writes=[write])

    results = await asyncio.gather(*(commit(s) for s in shards))
    for shard, published in zip(shards, results, strict=True):
        stored = {p.seq: p for p in await store.pending_outbox(shard)}
        assert len(published) == len(stored) == 300
        for p in published:
            assert stored[p.seq].body == p.body and stored[p.seq].routing_key == p.routing_key
        assert [p.routing_key for p in published] == [f"k{n}" for n in range(300)]


async def test_sqlites_two_writers_store_the_same_values(tmp_path: Path) -> None:
    """batch_sqlite.py writes what SQLAlchemy's types would have stored (batch_sql.py): the same
    datetime text (the timer service compares `fire_at` as text), the same JSON documents and
    blobs, column by column, for new runs, an update that closes a run, one that keeps it
    running, events, timers and the outbox."""
    import json
    import sqlite3

    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from tidal_history import batch_sql

    def batches() -> list[list[RunWrite]]:
        a, b = _state("run-a", workflow_id="a"), _state("run-b", workflow_id="b")
        a.next_event_id = 3
        timers = {_timer("run-a", 1).key: _timer("run-a", 1), _timer("run-a", 2).key: _timer("run-a", 2)}
        first = [
            RunWrite(
                state=a, old_version=None, events=_events(1, 2), timers=timers, outbox=[_closed("run-a", 1)]
            ),
            RunWrite(state=b, old_version=None, events=_events(1, 1), memo={"m": {"data": [1, "x"]}}),
        ]
        closed = _state("run-a", workflow_id="a", status="Completed")
        closed.close_time = NOW.replace(microsecond=0)  # SQLAlchemy still writes .000000
        closed.result = (Payload(data={"ok": True}),)
        closed.next_event_id = 4
        # b stays running: the raw writer leaves its status and close_time unassigned.
        running = _state("run-b", workflow_id="b")
        running.next_event_id = 5
        second = [
            RunWrite(
                state=closed,
                old_version=1,
                events=_events(3, 1),
                timers={_timer("run-a", 2).key: None},
                outbox=[_closed("run-a", 2), _closed("run-a", 3)],
            ),
            RunWrite(state=running, old_version=1, events=_events(2, 3)),
        ]
        return [first, second]

    paths = [tmp_path / "raw.sqlite3", tmp_path / "core.sqlite3"]
    for path in paths:
        await migrate(f"sqlite+aiosqlite:///{path}")
    raw = create_engine(f"sqlite+aiosqlite:///{paths[0]}", sqlite_on_loop=True)
    core = create_engine(f"sqlite+aiosqlite:///{paths[1]}")
    try:
        store = await _store(raw)
        for writes in batches():
            await store.commit(shard_id=0, range_id=2, writes=writes)
        for writes in batches():
            async with core.begin() as conn:
                await batch_sql.write_batch(
                    conn, insert=sqlite_dialect.insert, shard_id=0, writes=writes, published_seqs=[]
                )
    finally:
        await raw.dispose()
        await core.dispose()

    json_columns = {"state", "memo", "search_attributes", "result", "data", "body", "headers"}

    def dump(path: Path, table: str, order: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
        finally:
            db.close()
        for row in rows:
            row.pop("created_at", None)
            row.pop("seq", None)
            for c in json_columns & row.keys():
                if isinstance(row[c], str):
                    row[c] = json.loads(row[c])
        return rows

    for table, order in (
        ("executions", "run_id"),
        ("current_executions", "workflow_id"),
        ("history_events", "run_id, event_id"),
        ("timers", "key"),
        ("outbox", "seq"),
    ):
        stored = [dump(p, table, order) for p in paths]
        assert stored[0] and stored[0] == stored[1], table
