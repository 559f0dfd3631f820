"""Faults against `HeldConnections` on a real Postgres: the server restarted while connections are
held, a use cancelled in the middle of a transaction, a use that leaves its connection inside a
failed transaction, the holder closed while a use is in progress. Each time: no write applied
twice or half, no connection in an unknown state reused, the pool's count right, and the next use
served (history's shard must not wedge on them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db.engine import create_engine
from tidal_server.db.held import HeldConnections
from tidal_server.faults import describe, is_transient

from tests.support.polling import until
from tests.support.postgres import Postgres, start_private_postgres

DEADLINE = 60.0


@pytest.fixture
def private_postgres() -> Iterator[Postgres]:
    try:
        server = start_private_postgres()
    except Exception as exc:
        pytest.skip(f"needs the local Postgres binaries to restart a server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)  # a pool of 4, two held at most
    yield engine
    await engine.dispose()


def _checked_out(engine: AsyncEngine) -> int:
    return int(engine.pool.checkedout())  # type: ignore[attr-defined]


async def _hold_two(held: HeldConnections) -> set[int]:
    """Two connections held (two uses at once), both idle again; their backend pids."""
    both = asyncio.Barrier(2)
    pids: set[int] = set()

    async def use() -> None:
        async with held.connection() as db:
            pids.add(await db.fetchval("SELECT pg_backend_pid()"))
            await both.wait()

    await asyncio.gather(use(), use())
    assert held.held == 2 and len(pids) == 2
    return pids


async def test_after_a_postgres_restart_one_use_fails_and_the_next_is_served(
    private_postgres: Postgres,
) -> None:
    """Every held connection died with the server. The first use finds out (a transient error:
    history requeues the batch); it must not take the other dead ones with it one failure at a
    time (each would be one more requeued batch and backoff of the shard)."""
    engine = create_engine(private_postgres.url, pool_size=2)
    held = HeldConnections(engine)
    try:
        before = await _hold_two(held)
        await asyncio.to_thread(private_postgres.kill, crash=True)
        await asyncio.to_thread(private_postgres.start_again)
        with pytest.raises(Exception) as failed:
            async with held.connection() as db:
                await db.fetchval("SELECT 1")
        assert is_transient(failed.value), describe(failed.value)
        async with held.connection() as db:
            assert await db.fetchval("SELECT pg_backend_pid()") not in before
        assert held.held == 1 and _checked_out(engine) == 1
    finally:
        await held.close()
        await engine.dispose()


async def _activity(engine: AsyncEngine, pid: int) -> str | None:
    """What backend `pid` is running now (None: no such backend)."""
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        row = await raw.fetchrow("SELECT state, query FROM pg_stat_activity WHERE pid = $1", pid)
    return None if row is None else f"{row['state']}: {row['query']}"


async def test_a_use_cancelled_mid_transaction_writes_nothing_and_its_connection_is_not_reused(
    engine: AsyncEngine,
) -> None:
    held = HeldConnections(engine)
    table = "held_cancel_test"
    async with held.connection() as db:
        await db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k text PRIMARY KEY)")
        await db.execute(f"DELETE FROM {table}")
    inserted = asyncio.Event()
    pid = 0

    async def batch() -> None:
        nonlocal pid
        async with held.connection() as db:
            pid = await db.fetchval("SELECT pg_backend_pid()")
            async with db.transaction():
                await db.execute(f"INSERT INTO {table} VALUES ('one')")
                inserted.set()
                await db.execute("SELECT pg_sleep(60)")  # in flight when cancelled

    task = asyncio.create_task(batch())
    await asyncio.wait_for(inserted.wait(), DEADLINE)

    async def sleeping() -> bool:
        return (await _activity(engine, pid) or "").startswith("active: SELECT pg_sleep")

    await until(sleeping, what="the statement in flight", deadline=DEADLINE, interval=0.01)
    task.cancel()
    # asyncpg may answer the cancel with its own error from the transaction's rollback: either
    # way the use ends, promptly (never waits out the pg_sleep).
    done, _ = await asyncio.wait([task], timeout=DEADLINE)
    assert done, "the cancelled use did not end"
    assert task.cancelled() or isinstance(task.exception(), asyncpg.InterfaceError | asyncpg.PostgresError)
    assert held.held == 0 and _checked_out(engine) == 0

    # Invalidated, not handed back to the pool or held: its backend goes, rolling back.
    async def gone() -> bool:
        return await _activity(engine, pid) is None

    await until(gone, what=f"backend {pid} to go", deadline=DEADLINE, interval=0.01)
    async with held.connection() as db:
        assert await db.fetchval("SELECT pg_backend_pid()") != pid
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0  # nothing half applied
        await db.execute(f"INSERT INTO {table} VALUES ('one')")  # the retry applies it once
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 1
        await db.execute(f"DROP TABLE {table}")
    await held.close()


async def test_a_connection_left_in_a_failed_transaction_is_never_reused(engine: AsyncEngine) -> None:
    held = HeldConnections(engine)
    async with held.connection() as db:
        pid = await db.fetchval("SELECT pg_backend_pid()")
        tr = db.transaction()
        await tr.start()
        with contextlib.suppress(asyncpg.PostgresError):
            await db.fetchval("SELECT 1 / 0")
        # The use ends cleanly, its connection still inside the aborted transaction.
    assert held.held == 0 and _checked_out(engine) == 0
    for _ in range(2):
        async with held.connection() as db:
            assert await db.fetchval("SELECT pg_backend_pid()") != pid
            assert not db.is_in_transaction()
    assert held.held == 1
    await held.close()
    assert _checked_out(engine) == 0


async def test_closing_while_a_use_is_in_progress_lets_it_finish_and_gives_everything_back(
    engine: AsyncEngine,
) -> None:
    held = HeldConnections(engine)
    await _hold_two(held)  # two idle ones for close() to give back
    inside = asyncio.Event()
    go_on = asyncio.Event()
    results: list[int] = []

    async def use() -> None:
        async with held.connection() as db:
            inside.set()
            await go_on.wait()
            results.append(await db.fetchval("SELECT 41 + 1"))

    task = asyncio.create_task(use())
    await asyncio.wait_for(inside.wait(), DEADLINE)
    await held.close()
    assert held.held == 1 and _checked_out(engine) == 1  # only the one in use
    go_on.set()
    await asyncio.wait_for(task, DEADLINE)
    assert results == [42]
    assert held.held == 0 and _checked_out(engine) == 0
    async with held.connection() as db:  # after close: an ordinary checkout, given back
        assert await db.fetchval("SELECT 1") == 1
    assert held.held == 0 and _checked_out(engine) == 0
