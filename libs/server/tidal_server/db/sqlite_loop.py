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
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

__all__ = ["FairPool", "connect_on_loop"]


class _FairQueue(AsyncAdaptedQueue[Any]):
    """SQLAlchemy's asyncio pool queue lets a new checkout take a connection that was just handed
    back before the session that waited longest wakes up, and asyncio.Queue puts that session
    back at the end of the line; with one connection and a busy loop, a session then waited past
    the pool timeout (60 s) while newer ones went ahead. Here sessions take turns: one at a time
    waits for the connection, the others wait behind it in arrival order (asyncio.Lock is fair)."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            return self.get_nowait()

        async def take() -> Any:
            async with self._turn:
                return await self._queue.get()

        async def take_within(seconds: float) -> Any:
            # Not asyncio.wait_for: on Python 3.11 it hands back a connection that came in the
            # turn the session was cancelled and swallows the cancel (a client's timeout during
            # the namespace lookup then answered 201 after the deadline); asyncio.timeout lets the
            # cancel through.
            async with asyncio.timeout(seconds):
                return await take()

        try:
            if timeout is not None:
                return await_(take_within(timeout))
            return await_(take())
        except (asyncio.QueueEmpty, TimeoutError) as err:
            raise Empty() from err

    @property
    def _turn(self) -> asyncio.Lock:
        lock: asyncio.Lock | None = self.__dict__.get("_turn_lock")
        if lock is None:  # made on first use, on the loop that uses the pool
            lock = self.__dict__["_turn_lock"] = asyncio.Lock()
        return lock


class FairPool(AsyncAdaptedQueuePool):
    """The asyncio queue pool with checkouts served first come, first served."""

    _queue_class = _FairQueue


class _OnLoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, with every call after connecting run inline on the caller's
    thread. Connecting and closing still go through aiosqlite's thread (it exists anyway)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            # Raises "Connection closed" (aiosqlite is untyped).
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


def _connect(path: str) -> sqlite3.Connection:
    # The connection is made on aiosqlite's thread and used on the loop's.
    return sqlite3.connect(path, check_same_thread=False)


def connect_on_loop(path: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: connections whose statements run inline."""

    async def creator() -> aiosqlite.Connection:
        conn = _OnLoopConnection(partial(_connect, path), iter_chunk_size=64)
        conn._thread.daemon = True  # what SQLAlchemy's aiosqlite dialect does for its own
        return await conn

    return creator
