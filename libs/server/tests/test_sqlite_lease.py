"""The embedded mode's raw SQLite paths lease the one connection straight from the fair pool
(`FairPool.lease`, used by `raw.sqlite_connection` / `raw.sqlite_transaction`): the same line as
SQLAlchemy's sessions, and what the pool's return would do (roll back what is left open,
invalidate a connection in an unknown state)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_server.db import create_engine
from tidal_server.db.raw import sqlite_connection, sqlite_transaction
from tidal_server.db.sqlite_loop import FairPool, first_in_line


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lease.sqlite3'}", sqlite_on_loop=True)
    try:
        yield eng
    finally:
        await eng.dispose()


async def _rows(engine: Any) -> list[int]:
    async with sqlite_connection(engine) as db:
        return [r[0] for r in await db.execute_fetchall("SELECT k FROM t ORDER BY k")]


async def test_the_first_use_makes_the_connection_then_leases_it(engine: Any) -> None:
    pool = engine.sync_engine.pool
    assert isinstance(pool, FairPool)
    async with pool.lease() as lease:
        assert lease is None  # no connection made yet: the pool's own checkout makes it
    async with sqlite_transaction(engine) as db:  # (through engine.connect())
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    async with pool.lease() as lease:
        assert lease is not None
    async with sqlite_transaction(engine) as db:
        await db.execute("INSERT INTO t VALUES (1)")
    assert await _rows(engine) == [1]
    assert pool.checkedout() == 0


async def test_leases_and_sessions_wait_in_one_line(engine: Any) -> None:
    async with sqlite_transaction(engine) as db:
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with engine.connect():
            holding.set()
            await release.wait()

    async def leased(name: str) -> None:
        async with sqlite_connection(engine) as db:
            order.append(name)
            await db.execute("SELECT 1")

    async def session(name: str) -> None:
        async with engine.connect() as conn:
            order.append(name)
            await conn.execute(sa.text("SELECT 1"))

    async def urgent(name: str) -> None:
        with first_in_line():
            await leased(name)

    held = asyncio.create_task(holder())
    await holding.wait()
    tasks = []
    for make in (lambda: leased("lease-0"), lambda: session("session-1"), lambda: leased("lease-2")):
        tasks.append(asyncio.create_task(make()))
        for _ in range(5):  # let it queue for the connection
            await asyncio.sleep(0)
    tasks.append(asyncio.create_task(urgent("lookup")))
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(held, *tasks), timeout=20)
    assert order == ["lookup", "lease-0", "session-1", "lease-2"]


async def test_a_transaction_left_open_by_a_lease_is_rolled_back_on_return(engine: Any) -> None:
    async with sqlite_transaction(engine) as db:
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    async with sqlite_connection(engine) as db:
        await db.execute("BEGIN")
        await db.execute("INSERT INTO t VALUES (1)")
        assert db.in_transaction
    async with sqlite_connection(engine) as db:
        assert not db.in_transaction
    assert await _rows(engine) == []
    async with sqlite_transaction(engine) as db:  # and the next transaction can begin
        await db.execute("INSERT INTO t VALUES (2)")
    assert await _rows(engine) == [2]


async def test_a_failed_rollback_invalidates_the_connection_and_the_next_use_reconnects(engine: Any) -> None:
    async with sqlite_transaction(engine) as db:
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")

    async def broken_rollback() -> None:
        raise RuntimeError("rollback interrupted")

    with pytest.raises(ValueError, match="the batch failed"):
        async with sqlite_transaction(engine) as db:
            await db.execute("INSERT INTO t VALUES (1)")
            db.rollback = broken_rollback
            raise ValueError("the batch failed")
    # The connection was closed (its open transaction with it), not handed to the next user.
    assert engine.sync_engine.pool.checkedout() == 0
    async with sqlite_connection(engine) as fresh:
        assert fresh is not db and not fresh.in_transaction
    assert await _rows(engine) == []
    async with sqlite_transaction(engine) as db:
        await db.execute("INSERT INTO t VALUES (3)")
    assert await _rows(engine) == [3]


async def test_a_lease_cancelled_while_waiting_loses_no_connection(engine: Any) -> None:
    async with sqlite_transaction(engine) as db:
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with sqlite_connection(engine):
            holding.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await holding.wait()
    gave_up = asyncio.create_task(_rows(engine))
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    gave_up.cancel()  # handed the connection or still waiting for it: either way it is passed on
    await asyncio.gather(held, gave_up, return_exceptions=True)
    assert await asyncio.wait_for(_rows(engine), timeout=10) == []
