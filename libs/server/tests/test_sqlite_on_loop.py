"""The embedded mode's SQLite engine: statements on the loop's thread, through one connection."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_server.db import create_engine
from tidal_server.db.sqlite_loop import first_in_line


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'on-loop.sqlite3'}"


def _thread_of_statements(engine: Any) -> None:
    """`SELECT tid()` answers the thread SQLite runs the statement on."""

    @sa.event.listens_for(engine.sync_engine, "connect")
    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("tid", 0, threading.get_ident)


async def _statement_thread(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT tid()"))).scalar_one())


async def test_statements_run_on_the_loop_thread_through_one_connection(db_url: str) -> None:
    engine = create_engine(db_url, sqlite_on_loop=True)
    _thread_of_statements(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
            await conn.execute(sa.text("INSERT INTO t VALUES (1, 'a')"))
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT v FROM t"))).scalar() == "a"
        assert await _statement_thread(engine) == threading.get_ident()
        assert engine.pool.size() == 1
    finally:
        await engine.dispose()


async def test_other_users_of_a_file_keep_aiosqlite_threads_and_a_pool(db_url: str) -> None:
    engine = create_engine(db_url)
    _thread_of_statements(engine)
    try:
        assert await _statement_thread(engine) != threading.get_ident()
        assert engine.pool.size() == 10
    finally:
        await engine.dispose()


async def test_concurrent_transactions_that_yield_inside_queue_instead_of_stalling(db_url: str) -> None:
    """Fifty tasks each holding a write transaction across a yield to the loop: with one
    connection they take turns through the pool. With several connections on the loop's thread,
    the second BEGIN IMMEDIATE would sleep in SQLite's busy handler, blocking the loop the first
    transaction needs to finish, until the busy timeout (30 s)."""
    engine = create_engine(db_url, sqlite_on_loop=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE c (k INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(sa.text("INSERT INTO c VALUES (1, 0)"))

        async def bump() -> None:
            async with engine.begin() as conn:
                n = (await conn.execute(sa.text("SELECT n FROM c WHERE k = 1"))).scalar_one()
                await asyncio.sleep(0)  # another task runs meanwhile
                await conn.execute(sa.text("UPDATE c SET n = :n WHERE k = 1"), {"n": n + 1})

        await asyncio.wait_for(asyncio.gather(*(bump() for _ in range(50))), timeout=20)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT n FROM c"))).scalar_one() == 50
    finally:
        await engine.dispose()


async def test_a_statement_error_is_raised_and_the_connection_stays_usable(db_url: str) -> None:
    engine = create_engine(db_url, sqlite_on_loop=True)
    try:
        with pytest.raises(sa.exc.OperationalError):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT * FROM missing"))
        async with engine.connect() as conn:
            value = (await conn.execute(sa.text("SELECT :v"), {"v": "ok\x00x"})).scalar()
            assert value == "ok\x00x"
    finally:
        await engine.dispose()


async def test_a_session_that_waited_gets_the_connection_before_a_newcomer(db_url: str) -> None:
    """With one connection, a checkout that arrives just as the connection comes back must not
    go ahead of the sessions already waiting: under load that starved a history batch past the
    pool timeout (60 s)."""
    engine = create_engine(db_url, sqlite_on_loop=True)
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def session(name: str) -> None:
        async with engine.connect() as conn:
            order.append(name)
            await conn.execute(sa.text("SELECT 1"))

    async def holder() -> None:
        async with engine.connect():
            holding.set()
            await release.wait()
        # The connection is back and the waiting session woken, but it has not run yet.
        await session("newcomer")

    try:
        held = asyncio.create_task(holder())
        await holding.wait()
        waiting = asyncio.create_task(session("waited"))
        for _ in range(5):  # let it queue for the connection
            await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(asyncio.gather(held, waiting), timeout=20)
        assert order == ["waited", "newcomer"]
    finally:
        await engine.dispose()


async def test_a_checkout_first_in_line_goes_ahead_of_sessions_already_waiting(db_url: str) -> None:
    """The timer service's stale lookup before a fire waited behind every session queued for the
    one connection (up to 2.7 s in the embedded timers workload); under `first_in_line()` it gets
    the connection as soon as its holder returns it, and the others keep their order."""
    engine = create_engine(db_url, sqlite_on_loop=True)
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def session(name: str) -> None:
        async with engine.connect() as conn:
            order.append(name)
            await conn.execute(sa.text("SELECT 1"))

    async def urgent(name: str) -> None:
        with first_in_line():
            await session(name)

    async def holder() -> None:
        async with engine.connect():
            holding.set()
            await release.wait()

    async def settle() -> None:
        for _ in range(5):  # let the sessions queue for the connection
            await asyncio.sleep(0)

    try:
        held = asyncio.create_task(holder())
        await holding.wait()
        tasks = [asyncio.create_task(session(f"waited-{i}")) for i in range(3)]
        await settle()
        tasks += [asyncio.create_task(urgent("lookup-1")), asyncio.create_task(urgent("lookup-2"))]
        await settle()
        release.set()
        await asyncio.wait_for(asyncio.gather(held, *tasks), timeout=20)
        assert order == ["lookup-1", "lookup-2", "waited-0", "waited-1", "waited-2"]
        # Outside the context, checkouts are ordinary again.
        await session("later")
        assert order[-1] == "later"
    finally:
        await engine.dispose()


async def test_a_checkout_that_times_out_or_is_cancelled_loses_no_connection(db_url: str) -> None:
    """A waiter that gives up (cancelled, or the pool timeout) must not take the connection with
    it: the next session still gets it."""
    engine = create_engine(db_url, sqlite_on_loop=True)
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with engine.connect():
            holding.set()
            await release.wait()

    async def read() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT 7"))).scalar_one())

    try:
        held = asyncio.create_task(holder())
        await holding.wait()
        gave_up = asyncio.create_task(read())
        urgent_gave_up = asyncio.create_task(_first(read))
        for _ in range(5):
            await asyncio.sleep(0)
        release.set()
        # Both were handed the connection or are still waiting for it when they are cancelled.
        gave_up.cancel()
        urgent_gave_up.cancel()
        await asyncio.gather(held, gave_up, urgent_gave_up, return_exceptions=True)
        assert await asyncio.wait_for(read(), timeout=10) == 7
        assert await asyncio.wait_for(_first(read), timeout=10) == 7
    finally:
        await engine.dispose()


async def _first(fn: Any) -> Any:
    with first_in_line():
        return await fn()


async def test_a_connection_handed_to_a_waiter_cancelled_before_it_ran_goes_to_the_next() -> None:
    from tidal_server.db.sqlite_loop import _FairQueue

    q: _FairQueue = _FairQueue(maxsize=1)
    first = asyncio.create_task(_first(lambda: q._take(None)))
    second = asyncio.create_task(q._take(None))
    for _ in range(3):
        await asyncio.sleep(0)
    q.put_nowait("the connection")  # handed to `first`, which has not run since
    first.cancel()
    assert await asyncio.wait_for(second, timeout=10) == "the connection"
    assert first.cancelled()
