"""A few asyncpg connections kept out of the engine's pool for one hot path, reused without a
checkout each time.

A checkout from SQLAlchemy's pool and its return cost about 150 us of CPU (the async adapter's
greenlet hops, the pool's events, the connection fairy), six times the CPU of the statement that
history's batch commit sends on it (docs/performance.md, "History's own CPU per message"). A
`HeldConnections` keeps the connections its users gave back (at most `keep` of them, checked out
of the engine's pool once) and hands them out again: a list pop instead of a checkout.

What keeps it safe:
- only a use that ended cleanly keeps its connection: one that raised goes back through the
  pool, invalidated unless the error was the server's answer to a statement (a driver or
  protocol error, a cancel mid round trip: the connection's state is unknown), so a connection
  in an unknown state is never reused;
- at most `keep` connections are held (by default half the pool): when they are all in use, a
  user gets an ordinary checkout, so the rest of the process (and nesting) always finds the
  pool's other half, and nothing waits for a held connection;
- `close()` (the service's stop) returns the idle ones to the pool before the engine is disposed;
- a connection held for `recycle_seconds` (the pool's `pool_recycle`, engine.py) goes back to the
  pool instead of serving again, so the pool's recycling still reaches it.
A held connection the server dropped meanwhile (a restart, an idle timeout) fails its next
statement and is invalidated, as a pooled one without pre-ping does (engine.py); the idle ones go
with it (dead too after a restart: each would fail one more batch), so one use fails, not `keep`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .raw import driver_connection, pg_connection

__all__ = ["HeldConnections"]


class HeldConnections:
    """Connections of `engine`'s pool (Postgres), held for reuse; see the module docstring."""

    def __init__(
        self, engine: AsyncEngine, *, keep: int | None = None, recycle_seconds: float | None = None
    ) -> None:
        self._engine = engine
        size = getattr(engine.pool, "size", None)
        pool_size = size() if callable(size) else 2
        self.keep = keep if keep is not None else max(1, pool_size // 2)
        pool_recycle = getattr(engine.pool, "_recycle", -1)
        self._recycle = recycle_seconds if recycle_seconds is not None else float(pool_recycle)
        self._idle: list[tuple[AsyncConnection, Any, float]] = []
        self._out = 0  # held connections checked out of the pool (idle or in use)
        self._closed = False

    @property
    def held(self) -> int:
        """Connections this holds out of the pool now (idle or in use)."""
        return self._out

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """An asyncpg connection outside any transaction (as `pg_connection`'s)."""
        while self._idle and self._recycle >= 0 and time.monotonic() - self._idle[-1][2] > self._recycle:
            old, old_db, _ = self._idle.pop()
            await self._give_back(old, old_db)
        if self._idle:
            conn, db, since = self._idle.pop()
        elif self._out < self.keep and not self._closed:
            self._out += 1  # before the checkout's await: concurrent users must see it
            since = time.monotonic()
            try:
                conn = await self._engine.connect()
            except BaseException:
                self._out -= 1
                raise
            try:
                db = await driver_connection(conn)
            except BaseException:
                self._out -= 1
                await conn.close()
                raise
        else:
            async with pg_connection(self._engine) as db:
                yield db
            return
        try:
            yield db
        except asyncpg.PostgresError as exc:
            if _server_gone(exc, db):
                await self._drop_idle()
            await self._give_back(conn, db)  # the server's answer: the connection is sound
            raise
        except BaseException as exc:
            if _server_gone(exc, db):
                await self._drop_idle()
            # A driver or protocol error, a cancel mid round trip: the connection's state is
            # unknown, so it is not pooled either.
            await self._give_back(conn, db, invalidate=True)
            raise
        if self._closed or db.is_closed() or db.is_in_transaction():
            await self._give_back(conn, db)
        else:
            self._idle.append((conn, db, since))

    async def close(self) -> None:
        """Return the idle connections to the pool; the ones in use go back when their use ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, db, _ in idle:
            await self._give_back(conn, db)

    async def _drop_idle(self) -> None:
        """The server dropped a held connection (a restart, a failover): the idle ones are as
        good as dead too, and each would fail one more use (one more requeued batch)."""
        idle, self._idle = self._idle, []
        for conn, db, _ in idle:
            await self._give_back(conn, db, invalidate=True)

    async def _give_back(self, conn: AsyncConnection, db: Any, *, invalidate: bool = False) -> None:
        self._out -= 1
        # As pg_connection: a dead connection, or one left inside a transaction, is not pooled.
        if invalidate or db.is_closed() or db.is_in_transaction():
            await conn.invalidate()
        await conn.close()


def _server_gone(exc: BaseException, db: Any) -> bool:
    """The failure says the connection itself is gone (not a statement's error, not a cancel)."""
    if db.is_closed() or isinstance(exc, asyncpg.ConnectionDoesNotExistError | OSError):
        return True
    # Class 08 (connection exception) and 57P (admin or crash shutdown, cannot connect now).
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(("08", "57P"))
