"""asyncpg (or SQLite's driver) straight, on the engine's own pool, for hot paths; and reads
without a transaction.

SQLAlchemy Core costs a few hundred microseconds of CPU per statement (coercion, cache keys,
compilation lookup, result processing) before asyncpg sends anything: more than the statement
itself on a hot path. History's batch commit therefore talks to asyncpg directly on a
connection from the engine's pool (`pg_connection`), so pooling, TLS and connection settings stay
in one place (docs/performance.md#history-hot-path).

A plain `engine.connect()` read on Postgres costs three statements (BEGIN, the query, and the
ROLLBACK the pool issues when the connection comes back): `autocommit(engine)` runs reads (and
single-statement writes) in autocommit mode instead. Under READ COMMITTED every statement sees
its own snapshot anyway, so a read-only transaction buys nothing.

`sqlite_transaction(engine)` is the embedded mode's counterpart of `pg_connection` plus a
transaction: the driver's connection between BEGIN and COMMIT issued by hand. SQLAlchemy's
`engine.begin()` and a Core fence statement cost about a millisecond of CPU per history batch
on SQLite (connection and transaction objects, event hooks, statement coercion and cache keys):
about a tenth of a one-at-a-time workflow's CPU in the embedded mode (docs/performance.md,
"Embedded mode").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import sqlite_begin
from .sqlite_loop import FairPool

__all__ = [
    "autocommit",
    "driver_connection",
    "is_postgres",
    "pg_connection",
    "sqlite_connection",
    "sqlite_transaction",
]


def is_postgres(engine: AsyncEngine | AsyncConnection) -> bool:
    return engine.dialect.name == "postgresql"


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The engine for reads and single-statement writes: on Postgres in autocommit mode (no
    BEGIN, no ROLLBACK on return to the pool); SQLite unchanged (its transactions are managed by
    `engine.py`'s BEGIN hook, so a write there still needs `begin()`)."""
    if not is_postgres(engine):
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`. Statements run on it join whatever transaction
    SQLAlchemy's adapter has started on that connection (so start one first: see
    `HistoryStore.commit`); errors come out as asyncpg's, which `tidal_server.faults` classifies."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


@asynccontextmanager
async def pg_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """An asyncpg connection from the engine's pool, outside any transaction: autocommit
    statements, or a transaction of asyncpg's own (`db.transaction()`, which must end inside)."""
    async with engine.connect() as conn:
        db = await driver_connection(conn)
        try:
            yield db
        finally:
            # SQLAlchemy sees neither asyncpg's failures nor its transactions: a dead connection,
            # or one left inside a transaction (e.g. cancelled during its ROLLBACK), must not go
            # back to the pool.
            if db.is_closed() or db.is_in_transaction():
                await conn.invalidate()


@asynccontextmanager
async def sqlite_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """aiosqlite's connection from the engine's pool, outside any transaction: one read is one
    statement (SQLite runs it in a transaction of its own), with none of SQLAlchemy's
    per-statement work. The engine's connections have the sqlite3 module's own transaction
    handling off (engine.py), so nothing here begins one implicitly."""
    async with _sqlite_lease(engine) as (db, _):
        yield db


@asynccontextmanager
async def sqlite_transaction(engine: AsyncEngine) -> AsyncIterator[Any]:
    """aiosqlite's connection from the engine's pool inside a transaction begun the way every
    SQLite transaction of the engine begins (`BEGIN IMMEDIATE` on a file): committed when the
    block ends, rolled back if it raises. The pool's line and its one connection (sqlite_loop.py)
    are the same as for any session; SQLAlchemy sees a connection with no transaction of its own,
    and its reset on return (a rollback) finds nothing to undo."""
    async with _sqlite_lease(engine) as (db, invalidate):
        await db.execute(sqlite_begin(engine))
        try:
            yield db
        except BaseException:
            try:
                await db.rollback()
            except BaseException:
                # The connection's state is unknown (a cancel mid-rollback, a broken file):
                # it must not serve the next session.
                await invalidate()
            raise
        # A failed COMMIT (SQLITE_BUSY from another process, a full disk) leaves the transaction
        # open; the rollback above does not run for it, so do it here before re-raising.
        try:
            await db.execute("COMMIT")
        except BaseException:
            try:
                await db.rollback()
            except BaseException:
                await invalidate()
            raise


@asynccontextmanager
async def _sqlite_lease(engine: AsyncEngine) -> AsyncIterator[tuple[Any, Callable[[], Awaitable[None]]]]:
    """The driver's connection and how to invalidate it: leased straight from the embedded
    mode's one-connection pool when it can be (`FairPool.lease`, same line, no SQLAlchemy
    connection objects), else checked out through `engine.connect()`."""
    pool = engine.sync_engine.pool
    if isinstance(pool, FairPool):
        async with pool.lease() as lease:
            if lease is not None:
                yield lease.db, lease.invalidate
                return
    async with engine.connect() as conn:
        yield await driver_connection(conn), conn.invalidate
