"""SQLite on the event loop's own thread, for the embedded mode (every service in one process).

aiosqlite runs each call on a thread of its own and hands the result back through the loop: two
thread switches per statement, each one a wait for the GIL while the loop's thread is busy. A
history commit is about ten statements, a one-activity workflow about sixty, and with the workers,
the frontend and every service sharing the one process the hand-offs cost more CPU than the
statements (embedded, one at a time: 55 -> 28 CPU-ms per workflow; docs/performance.md#latency).
A statement on a local WAL file with `synchronous=NORMAL` takes tens of microseconds, so here it
runs inline instead.

That is only safe on **one** connection. Every transaction on a file database begins with
`BEGIN IMMEDIATE` (engine.py), and a second connection of the same process that found the write
lock taken would sleep in SQLite's busy handler *on the loop's thread*, where the holder can
never finish: the loop would stall for the whole busy timeout. With one connection the pool
queues sessions on the loop instead (first come, first served, no sleeping), which is also what
the single write lock did anyway. Another process holding the lock (a second server on the same
file) still makes this one wait in the busy handler, loop included: the embedded mode is one
process per database file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_, greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

from .sqlite_checkpoint import FALLBACK_PAGES, Checkpointer

__all__ = ["FairPool", "Lease", "connect_on_loop", "first_in_line"]


_FIRST_IN_LINE: ContextVar[bool] = ContextVar("tidal_sqlite_first_in_line", default=False)


@contextmanager
def first_in_line() -> Iterator[None]:
    """Checkouts of the one connection made in this context go ahead of every ordinary session
    waiting for it (after the one holding it, and after earlier checkouts of this kind).

    For short reads whose lateness is the product: the timer service's stale lookup before a
    fire. In a saturated embedded process a hundred sessions (result reads, history batches) can
    wait for the connection, each hand-off a turn of the busy loop, and the lookup waited up to
    2.7 s at the back of that line while its timers were due. Only for what is rare and
    short: used for everything, it would be the first come, first served line again. A no-op
    for every other pool (Postgres, aiosqlite's threads)."""
    token = _FIRST_IN_LINE.set(True)
    try:
        yield
    finally:
        _FIRST_IN_LINE.reset(token)


class _FairQueue(AsyncAdaptedQueue[Any]):
    """SQLAlchemy's asyncio pool queue lets a new checkout take a connection that was just handed
    back before the session that waited longest wakes up, and asyncio.Queue puts that session
    back at the end of the line; with one connection and a busy loop, a session then waited past
    the pool timeout (60 s) while newer ones went ahead. Here a returned connection is handed
    straight to the session that waited longest (checkouts under `first_in_line()` first), so
    nobody who arrives later can take it while that session has yet to run."""

    def put_nowait(self, item: Any) -> None:
        for waiters in self._waiters:
            while waiters:
                fut = waiters.popleft()
                if not fut.done():  # done: its checkout timed out or was cancelled
                    fut.set_result(item)
                    return
        super().put_nowait(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # a pool never returns more connections than it holds

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            return self.get_nowait()
        try:
            return await_(self._take(timeout))
        except TimeoutError as err:
            raise Empty() from err

    async def _take(self, timeout: float | None) -> Any:
        urgent, ordinary = self._waiters
        first = _FIRST_IN_LINE.get()
        if not urgent and (first or not ordinary):
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        (urgent if first else ordinary).append(fut)
        try:
            if timeout is None:
                return await fut
            # Not asyncio.wait_for: on Python 3.11 it hands back a connection that came in the
            # turn the session was cancelled and swallows the cancel (a client's timeout during
            # the namespace lookup then answered 201 after the deadline); asyncio.timeout lets
            # the cancel through, and the connection is passed on below.
            async with asyncio.timeout(timeout):
                return await fut
        except BaseException:
            # Handed over just as the wait ended: pass the connection on instead of losing it.
            if fut.done() and not fut.cancelled():
                self.put_nowait(fut.result())
            raise

    @property
    def _waiters(self) -> tuple[deque[asyncio.Future[Any]], deque[asyncio.Future[Any]]]:
        waiters: tuple[deque[asyncio.Future[Any]], deque[asyncio.Future[Any]]] | None = self.__dict__.get(
            "_waiter_lines"
        )
        if waiters is None:  # (first in line, everyone else)
            waiters = self.__dict__["_waiter_lines"] = (deque(), deque())
        return waiters


class FairPool(AsyncAdaptedQueuePool):
    """The asyncio queue pool with checkouts served first come, first served."""

    _queue_class = _FairQueue

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease | None]:
        """The one connection's aiosqlite connection, taken from the same line every session
        waits in, without SQLAlchemy's connection objects around it (a checkout and return
        through `engine.connect()` cost about 70 us of CPU: the AsyncConnection, the greenlet,
        the fairy, the pool's events and the reset's ROLLBACK; a history batch and a run read
        each paid one). Yields None when there is no ready connection to lease (none created
        yet, or one SQLAlchemy must reconnect or recycle first): then use `engine.connect()`.
        What the pool's return would do is done here: a transaction left open is rolled back,
        and a connection whose state is unknown is invalidated (`Lease.invalidate`)."""
        queue = self._pool
        if not isinstance(queue, _FairQueue) or self._overflow < self._max_overflow:
            yield None  # the connection is not made yet: the pool's own checkout makes it
            return
        try:
            record = await queue._take(self._timeout)
        except TimeoutError:
            raise sa_exc.TimeoutError(
                f"QueuePool limit of size {self.size()} overflow {self._max_overflow} reached, "
                f"connection timed out, timeout {self._timeout:.2f}"
            ) from None
        lease = Lease(record)
        try:
            if not lease.ready(self._invalidate_time):
                queue.put_nowait(record)  # SQLAlchemy's checkout reconnects it
                record = None
                yield None
                return
            yield lease
        finally:
            if record is not None:
                try:
                    await lease.settle()
                finally:
                    queue.put_nowait(record)  # to the next in line, invalidated or not


class Lease:
    """One leased use of the pool's connection (`FairPool.lease`)."""

    def __init__(self, record: Any) -> None:
        self._record = record
        self.db: aiosqlite.Connection = record.driver_connection
        self._invalid = False

    def ready(self, invalidate_time: float) -> bool:
        # What `_ConnectionRecord.get_connection` checks before reusing a connection (this
        # pool never recycles by age).
        record = self._record
        return (
            record.dbapi_connection is not None
            and invalidate_time <= record.starttime
            and record._soft_invalidate_time <= record.starttime
        )

    async def invalidate(self) -> None:
        """Close the connection: the next checkout makes a new one."""
        self._invalid = True
        await greenlet_spawn(self._record.invalidate)

    async def settle(self) -> None:
        if self._invalid:
            return
        try:
            if self.db.in_transaction:
                await self.db.rollback()
        except BaseException:
            await self.invalidate()
            raise


class _OnLoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, with every call after connecting run inline on the caller's
    thread. Connecting and closing still go through aiosqlite's thread (it exists anyway)."""

    checkpointer: Checkpointer | None = None

    async def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        await super().close()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            # Raises "Connection closed" (aiosqlite is untyped).
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


def _connect(path: str) -> sqlite3.Connection:
    # The connection is made on aiosqlite's thread and used on the loop's.
    return sqlite3.connect(path, check_same_thread=False)


def connect_on_loop(path: str, *, checkpoint_thread: bool = True) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: connections whose statements run inline,
    each with its WAL checkpointed on a thread of its own (sqlite_checkpoint.py) unless
    `checkpoint_thread` is False."""

    async def creator() -> aiosqlite.Connection:
        conn = _OnLoopConnection(partial(_connect, path), iter_chunk_size=64)
        conn._thread.daemon = True  # what SQLAlchemy's aiosqlite dialect does for its own
        await conn
        if checkpoint_thread:
            await conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
            conn.checkpointer = Checkpointer(path)
            conn.checkpointer.start()
        return conn

    return creator
