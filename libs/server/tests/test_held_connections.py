"""`HeldConnections` against a real Postgres: reused without a checkout, never reused after a
failure or a server-side kill, bounded (the rest of the pool stays free), given back on close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db.engine import create_engine
from tidal_server.db.held import HeldConnections
from tidal_server.faults import describe, is_transient


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)  # a pool of 4
    yield engine
    await engine.dispose()


def _count_checkouts(engine: AsyncEngine) -> list[int]:
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    return checkouts


async def test_a_held_connection_is_reused_without_a_checkout(engine: AsyncEngine) -> None:
    held = HeldConnections(engine)
    checkouts = _count_checkouts(engine)
    pids = set()
    for _ in range(5):
        async with held.connection() as db:
            pids.add(await db.fetchval("SELECT pg_backend_pid()"))
    assert len(pids) == 1 and len(checkouts) == 1 and held.held == 1
    await held.close()
    assert held.held == 0 and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_use_that_raises_gives_its_connection_back_to_the_pool(engine: AsyncEngine) -> None:
    held = HeldConnections(engine)
    async with held.connection() as db:
        first = await db.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(ZeroDivisionError):
        async with held.connection() as db:
            await db.fetchval("SELECT 1")
            raise ZeroDivisionError  # a failure in the middle: its state is not trusted
    assert held.held == 0 and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with held.connection() as db:
        await db.fetchval("SELECT 1")
    assert held.held == 1
    await held.close()
    assert first


async def test_a_connection_the_server_dropped_fails_once_then_a_new_one_serves(
    engine: AsyncEngine,
) -> None:
    held = HeldConnections(engine)
    async with held.connection() as db:
        pid = await db.fetchval("SELECT pg_backend_pid()")
    async with engine.connect() as other:
        raw: Any = (await other.get_raw_connection()).driver_connection
        assert await raw.fetchval("SELECT pg_terminate_backend($1)", pid)
    # Which error depends on how much of the server's goodbye has arrived: an AdminShutdown,
    # a closed connection, or the protocol out of step (InternalClientError); each is transient
    # for the failure policy (test_faults.py).
    with pytest.raises(
        (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    ) as failed:
        async with held.connection() as db:
            await db.fetchval("SELECT 1")
    assert is_transient(failed.value), describe(failed.value)
    async with held.connection() as db:
        assert await db.fetchval("SELECT pg_backend_pid()") != pid
    assert held.held == 1
    await held.close()


async def test_at_most_keep_are_held_and_the_rest_of_the_pool_stays_free(engine: AsyncEngine) -> None:
    held = HeldConnections(engine)
    assert held.keep == 2  # half of the pool of 4
    inside = asyncio.Event()
    release = asyncio.Event()
    entered = 0

    async def use() -> None:
        nonlocal entered
        async with held.connection() as db:
            await db.fetchval("SELECT 1")
            entered += 1
            if entered == 3:
                inside.set()
            await release.wait()

    tasks = [asyncio.create_task(use()) for _ in range(3)]
    await asyncio.wait_for(inside.wait(), 10)
    assert held.held == 2 and engine.pool.checkedout() == 3  # type: ignore[attr-defined]
    release.set()
    await asyncio.gather(*tasks)
    # The third was an ordinary checkout, back in the pool; two stay held for the next uses.
    assert held.held == 2 and engine.pool.checkedout() == 2  # type: ignore[attr-defined]
    await held.close()
    assert held.held == 0 and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_after_close_a_use_gives_its_connection_back(engine: AsyncEngine) -> None:
    held = HeldConnections(engine)
    await held.close()
    async with held.connection() as db:
        await db.fetchval("SELECT 1")
    assert held.held == 0 and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_held_past_the_pools_recycle_age_goes_back_to_the_pool(
    engine: AsyncEngine,
) -> None:
    assert HeldConnections(engine)._recycle == 1800  # the engine's pool_recycle
    held = HeldConnections(engine, recycle_seconds=0)
    checkouts = _count_checkouts(engine)
    for _ in range(2):
        async with held.connection() as db:
            await db.fetchval("SELECT 1")
    assert len(checkouts) == 2 and held.held == 1 and engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await held.close()
