"""A few asyncpg connections kept out of the engine's pool for one hot path, reused without a
checkout each time.

A checkout from SQLAlchemy's pool and its return cost about 150 us of CPU (the async adapter's
greenlet hops, the pool's events, the connection fairy), six times the CPU of the statement that
history's batch commit sends on it (docs/performance.md, "History's own CPU per message"). A
`HeldConnections` keeps the connections its users gave back (at most `keep` of them, checked out
of the engine's pool once) and hands them out again: a list pop instead of a checkout.

What keeps it safe:
- only a use that ended cleanly keeps its connection: one that raised (a failed statement, a
  cancel mid-round trip) goes back through the pool as `pg_connection` returns it (invalidated
  if closed or left inside a transaction), so a connection in an unknown state is never reused;
- at most `keep` connections are held (by default half the pool): when they are all in use, a
  user gets an ordinary checkout, so the rest of the process (and nesting) always finds the
  pool's other half, and nothing waits for a held connection;
- `close()` (the service's stop) returns the idle ones to the pool before the engine is disposed.
A held connection the server dropped meanwhile (a restart, an idle timeout) fails its next
statement and is invalidated, as a pooled one without pre-ping does (engine.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .raw import driver_connection, pg_connection

__all__ = ["HeldConnections"]


class HeldConnections:
    """Connections of `engine`'s pool (Postgres), held for reuse; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, keep: int | None = None) -> None:
        self._engine = engine
        size = getattr(engine.pool, "size", None)
        pool_size = size() if callable(size) else 2
        self.keep = keep if keep is not None else max(1, pool_size // 2)
        self._idle: list[tuple[AsyncConnection, Any]] = []
        self._out = 0  # held connections checked out of the pool (idle or in use)
        self._closed = False

    @property
    def held(self) -> int:
        """Connections this holds out of the pool now (idle or in use)."""
        return self._out

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """An asyncpg connection outside any transaction (as `pg_connection`'s)."""
        if self._idle:
            conn, db = self._idle.pop()
        elif self._out < self.keep and not self._closed:
            self._out += 1  # before the checkout's await: concurrent users must see it
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
        except BaseException:
            await self._give_back(conn, db)
            raise
        if self._closed or db.is_closed() or db.is_in_transaction():
            await self._give_back(conn, db)
        else:
            self._idle.append((conn, db))

    async def close(self) -> None:
        """Return the idle connections to the pool; the ones in use go back when their use ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, db in idle:
            await self._give_back(conn, db)

    async def _give_back(self, conn: AsyncConnection, db: Any) -> None:
        self._out -= 1
        # As pg_connection: a dead connection, or one left inside a transaction, is not pooled.
        if db.is_closed() or db.is_in_transaction():
            await conn.invalidate()
        await conn.close()
