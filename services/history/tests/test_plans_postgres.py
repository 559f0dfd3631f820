"""The plans of history's key lookups on Postgres stay key lookups after the tables grew from
empty, and the hot tables get their first statistics (docs/performance.md, "Plans made for the
keys of each batch").

The plans are read with auto_explain at `log_level = notice` on the engine's connections (the
notices reach the client, nested statements of `tidal_write_batch` and `tidal_load_currents`
included); loading it needs a superuser, as the private test cluster's role is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_history.state import MutableState
from tidal_history.store import HistoryStore, RunWrite, VersionConflictError
from tidal_history.table_stats import TABLES, FirstStatistics
from tidal_schema import WorkflowExecutionStatus
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate

from tests.support.polling import until

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GROWN = 5000  # rows added after the plans were first made: far past any empty-table plan


async def _explained(db: Any) -> None:
    await db.execute("LOAD 'auto_explain'")
    await db.execute(
        "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
        " SET auto_explain.log_level = notice"
    )


@pytest.fixture
async def explained(fresh_database_url: str) -> AsyncIterator[tuple[AsyncEngine, list[str]]]:
    await migrate(fresh_database_url)
    probe = await asyncpg.connect(fresh_database_url.replace("+asyncpg", ""))
    try:
        if not await probe.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("auto_explain needs a superuser (the private test cluster's role is one)")
    finally:
        await probe.close()
    engine = create_engine(fresh_database_url, pool_size=1)
    plans: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(_explained)
        dbapi_connection.driver_connection.add_log_listener(lambda _c, msg: plans.append(msg.message))

    event.listen(engine.sync_engine, "connect", on_connect)
    yield engine, plans
    await engine.dispose()


def _state(
    workflow_id: str, status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING
) -> MutableState:
    return MutableState(
        namespace="default",
        workflow_id=workflow_id,
        run_id=f"run-{workflow_id}",
        workflow_type="T",
        task_queue="q",
        shard_id=0,
        start_time=NOW,
        start_request_id=f"req-{workflow_id}",
        status=status,
    )


async def _start_and_close(store: HistoryStore, range_id: int, workflow_ids: list[str]) -> None:
    """What a burst does to these tables: the starts' read, the new runs, then their close (the
    version-checked update of `executions` and the status update of `current_executions`)."""
    await store.load_currents([("default", w) for w in workflow_ids])
    await store.commit(
        shard_id=0,
        range_id=range_id,
        writes=[RunWrite(state=_state(w), old_version=None) for w in workflow_ids],
    )
    closed = WorkflowExecutionStatus.COMPLETED
    await store.commit(
        shard_id=0,
        range_id=range_id,
        writes=[RunWrite(state=_state(w, closed), old_version=1) for w in workflow_ids],
    )


async def _grow(engine: AsyncEngine, rows: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO executions (namespace, workflow_id, run_id, shard_id, workflow_type,"
                " task_queue, status, start_time, next_event_id, version, state, memo, search_attributes)"
                " SELECT 'default', 'bulk-' || g, 'run-bulk-' || g, 0, 'T', 'q', 'Completed', now(), 12, 4,"
                " '{}', '{}', '{}' FROM generate_series(1, :n) AS g"
            ),
            {"n": rows},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO current_executions (namespace, workflow_id, run_id, status, start_request_id,"
                " shard_id) SELECT 'default', 'bulk-' || g, 'run-bulk-' || g, 'Completed', 'r', 0"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": rows},
        )


def _plans_of(plans: list[str], text: str) -> list[str]:
    return [p for p in plans if text in " ".join(p.split())]


async def test_key_lookups_stay_index_scans_after_the_tables_grew_from_empty(
    explained: tuple[AsyncEngine, list[str]],
) -> None:
    """Ten rounds on empty tables (Postgres switches a statement to its generic plan after five),
    then 5,000 rows more, no ANALYZE: the starts' read, the version-checked update and the close
    still find their rows through the primary keys. Before migration 0006 the cached generic plans
    were hash joins over sequential scans of the whole table, for every batch (22 ms of the
    server's CPU per round at 50,000 rows, against 1.3 ms)."""
    engine, plans = explained
    store = HistoryStore(engine)
    try:
        range_id = await store.acquire_shard(0, "h1")
        for n in range(10):
            await _start_and_close(store, range_id, [f"warm-{n}-{i}" for i in range(3)])
        await _grow(engine, GROWN)
        plans.clear()
        await _start_and_close(store, range_id, ["late-1", "late-2"])
    finally:
        await store.close()

    reads = _plans_of(plans, "JOIN current_executions AS c ON c.namespace = u.n")
    updates = _plans_of(plans, "UPDATE executions AS e SET status")
    closes = _plans_of(plans, "UPDATE current_executions AS c SET status")
    assert len(reads) == 1 and len(updates) == 1 and len(closes) == 1, plans
    assert "Index" in reads[0] and "current_executions_pkey" in reads[0], reads[0]
    assert "Index Scan using executions_pkey" in updates[0], updates[0]
    assert "Index Scan using current_executions_pkey" in closes[0], closes[0]
    for plan in (*reads, *updates, *closes):
        assert "Seq Scan" not in plan and "Hash Join" not in plan, plan


async def test_the_version_check_still_rejects_a_stale_writer_with_plans_made_per_batch(
    explained: tuple[AsyncEngine, list[str]],
) -> None:
    """The same statement, planned per batch now: a write from a stale version changes nothing and
    names its run, after the plans were made on empty tables and the table grew."""
    engine, _ = explained
    store = HistoryStore(engine)
    try:
        range_id = await store.acquire_shard(0, "h1")
        for n in range(10):
            await _start_and_close(store, range_id, [f"warm-{n}"])
        await _grow(engine, GROWN)
        await store.commit(
            shard_id=0, range_id=range_id, writes=[RunWrite(state=_state("late"), old_version=None)]
        )
        fresh = RunWrite(state=_state("late", WorkflowExecutionStatus.COMPLETED), old_version=1)
        await store.commit(shard_id=0, range_id=range_id, writes=[fresh])
        with pytest.raises(VersionConflictError, match="run-late"):
            await store.commit(
                shard_id=0,
                range_id=range_id,
                writes=[RunWrite(state=_state("late", WorkflowExecutionStatus.FAILED), old_version=1)],
            )
    finally:
        await store.close()
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.text("SELECT status, version FROM executions WHERE workflow_id = 'late'"))
        ).one()
        current = (
            await conn.execute(sa.text("SELECT status FROM current_executions WHERE workflow_id = 'late'"))
        ).scalar()
    assert tuple(row) == ("Completed", 2)
    assert current == "Completed"


async def test_the_fence_and_the_inserts_keep_one_plan_the_key_joins_get_one_per_batch(
    explained: tuple[AsyncEngine, list[str]],
) -> None:
    """Migration 0007: the statements with no plan to choose (the fence by primary key, the inserts
    from the batch's arrays) run their generic plan, made once (parameters shown as `$n`, arrays
    estimated at 10 rows), while the joins of the batch's keys are still planned for that batch
    (its two keys, its values). The session's own setting is back to the default after the call:
    nothing else on the connection plans differently."""
    engine, plans = explained
    store = HistoryStore(engine)
    try:
        range_id = await store.acquire_shard(0, "h1")
        for n in range(7):  # past Postgres's five custom plans before a generic one
            await _start_and_close(store, range_id, [f"warm-{n}-{i}" for i in range(3)])
        plans.clear()
        await _start_and_close(store, range_id, ["late-1", "late-2"])
    finally:
        await store.close()

    fences = _plans_of(plans, "Update on shards")
    inserts = _plans_of(plans, "Insert on executions") + _plans_of(plans, "Insert on current_executions")
    updates = _plans_of(plans, "UPDATE executions AS e SET status")
    closes = _plans_of(plans, "UPDATE current_executions AS c SET status")
    assert len(fences) == 2 and len(inserts) == 2 and len(updates) == 1 and len(closes) == 1, plans
    for plan in fences:
        assert "(shard_id = $1)" in plan, plan
    for plan in inserts:
        assert "Function Scan on u" in plan and "rows=10 " in plan, plan
    for plan in (*updates, *closes):
        assert "Function Scan on u" in plan and "rows=2 width" in plan, plan
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SHOW plan_cache_mode"))).scalar() == "auto"


async def _without_statistics(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class AS c WHERE c.relname = ANY(:t)"
                " AND c.relnamespace = current_schema()::regnamespace"
                " AND NOT EXISTS (SELECT 1 FROM pg_statistic AS s WHERE s.starelid = c.oid)"
            ),
            {"t": list(TABLES)},
        )
        return {r[0] for r in rows}


async def test_the_hot_tables_get_their_first_statistics_once_runs_were_committed(
    explained: tuple[AsyncEngine, list[str]],
) -> None:
    """The supervised loop waits for `after_runs` new runs of this process, analyzes the tables
    that have none, and then idles: a second check finds nothing to do."""
    engine, _ = explained
    store = HistoryStore(engine)
    stats = FirstStatistics(engine, after_runs=6)
    store.statistics = stats
    task = asyncio.create_task(stats.run())
    try:
        range_id = await store.acquire_shard(0, "h1")
        await _start_and_close(store, range_id, ["a", "b", "c"])
        assert not stats.done  # 3 new runs of 6
        assert await _without_statistics(engine) >= {"executions", "current_executions"}
        await _grow(engine, 200)
        await _start_and_close(store, range_id, ["d", "e", "f"])
        await until(lambda: stats.done, what="the first statistics")
        assert not await _without_statistics(engine) & {"executions", "current_executions"}
        assert not task.done()  # a supervised loop idles, it does not return
        # `timers` is empty here: ANALYZE keeps no statistics of no rows, so it is analyzed again
        # and still has none.
        assert await _without_statistics(engine) == {"timers"}
        assert await stats.analyze_missing() == []
    finally:
        task.cancel()
        await store.close()


async def test_first_statistics_do_nothing_on_sqlite(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tidal.sqlite3'}"
    engine = create_engine(url)
    try:
        stats = FirstStatistics(engine, after_runs=1)
        stats.note_new_runs(10)
        assert stats.done
    finally:
        await engine.dispose()


async def test_first_statistics_give_up_on_a_held_lock_instead_of_queueing(
    explained: tuple[AsyncEngine, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """A migration (or anyone) holding a lock that ANALYZE needs: the try fails with the lock
    timeout instead of waiting in the lock queue, where the hot path's statements would queue
    behind it; nothing is analyzed, and the loop tries again until it succeeds."""
    engine, _ = explained
    await _grow(engine, 200)
    stats = FirstStatistics(engine, after_runs=1, retry_seconds=0.05)
    async with engine.connect() as holder:
        await holder.execute(sa.text("LOCK TABLE executions IN SHARE UPDATE EXCLUSIVE MODE"))
        with pytest.raises(asyncpg.LockNotAvailableError):
            await stats.analyze_missing()
        assert await _without_statistics(engine) >= {"executions", "current_executions"}
        # The loop: its try fails the same way, and it keeps running (no crash for the
        # supervisor to count, the process stays ready) and tries again.
        stats.note_new_runs(1)
        task = asyncio.create_task(stats.run())
        try:
            await until(
                lambda: any("first statistics not taken" in r.getMessage() for r in caplog.records),
                what="a failed try",
            )
            assert not stats.done and not task.done()
            await holder.rollback()
            await until(lambda: stats.done, what="the retried statistics")
            assert not task.done()
        finally:
            task.cancel()
    assert await _without_statistics(engine) == {"timers"}
