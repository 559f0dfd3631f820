"""The Postgres engine's pool keeps the connections a burst opened (real Postgres)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from tidal_server.db.engine import create_engine
from tidal_server.db.raw import pg_connection


async def test_a_second_burst_opens_no_connection(fresh_database_url: str) -> None:
    """Fifteen reads at once, twice: the second burst finds every connection the first opened.
    With ten kept and ten overflow that closed on return, each burst opened five (this test
    failed so: 10 connections kept of 15, 5 opened again); the cap is 20 either way."""
    engine = create_engine(fresh_database_url)
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    sa.event.listen(engine.sync_engine, "connect", count)
    held = 0
    all_held = asyncio.Event()

    async def read() -> None:
        nonlocal held
        async with pg_connection(engine) as db:
            held += 1
            if held == 15:
                all_held.set()
            await all_held.wait()  # all fifteen hold a connection at once
            assert await db.fetchval("SELECT 1") == 1

    async def burst() -> None:
        nonlocal held
        held = 0
        all_held.clear()
        async with asyncio.timeout(30):
            await asyncio.gather(*(read() for _ in range(15)))

    try:
        await burst()
        assert opened == 15
        await burst()
        assert opened == 15, f"the second burst opened {opened - 15} connections"
        assert engine.pool.size() == 20 and engine.pool.overflow() <= 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
