"""The frontend's namespace cache: one read of the table per name at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_frontend.namespace_registry import NamespaceRegistry
from tidal_server.db import create_engine, migrate


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ns.sqlite3'}"
    await migrate(url)
    engine = create_engine(url, sqlite_on_loop=True)
    yield engine
    await engine.dispose()


def _count_reads(engine: Any) -> list[str]:
    reads: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM namespaces" in statement:
            reads.append(statement)

    return reads


async def test_requests_that_miss_together_share_one_read(engine: Any) -> None:
    """A burst of starts on a cold (or just expired) cache read the table once, not once each:
    before, every one read it (1,036 reads for 1,000 starts in the embedded timers workload,
    each queued for the one SQLite connection)."""
    registry = NamespaceRegistry(engine, ttl_seconds=5)
    reads = _count_reads(engine)
    async with engine.connect():  # the connection is busy: the reads must queue, as under load
        misses = [asyncio.create_task(registry.get("default")) for _ in range(50)]
        for _ in range(5):
            await asyncio.sleep(0)
    infos = await asyncio.wait_for(asyncio.gather(*misses), timeout=10)
    assert {i.name for i in infos if i is not None} == {"default"} and None not in infos
    assert len(reads) == 1
    assert (await registry.get("default")) is not None and len(reads) == 1  # cached now


async def test_a_caller_that_gives_up_does_not_cancel_the_others_read(engine: Any) -> None:
    registry = NamespaceRegistry(engine, ttl_seconds=5)
    async with engine.connect():
        quitter = asyncio.create_task(registry.get("default"))
        stayer = asyncio.create_task(registry.get("default"))
        for _ in range(5):
            await asyncio.sleep(0)
        quitter.cancel()
    info = await asyncio.wait_for(stayer, timeout=10)
    assert info is not None and info.name == "default"


async def test_a_change_during_a_read_is_seen_by_the_next_get(engine: Any) -> None:
    """invalidate() while a read is in flight: that read may hold the old row, so it is not
    cached and the next get reads again."""
    registry = NamespaceRegistry(engine, ttl_seconds=60)
    reads = _count_reads(engine)
    async with engine.connect():
        old = asyncio.create_task(registry.get("default"))
        for _ in range(5):
            await asyncio.sleep(0)
        registry.invalidate("default")
    await asyncio.wait_for(old, timeout=10)
    await registry.get("default")
    assert len(reads) == 2


async def test_a_failed_read_is_raised_to_its_waiters_and_retried_by_the_next_get(engine: Any) -> None:
    registry = NamespaceRegistry(engine, ttl_seconds=5)
    fail = True

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def broken(*_: Any) -> None:
        if fail:
            raise RuntimeError("database went away")

    results = await asyncio.gather(*(registry.get("default") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    fail = False
    info = await registry.get("default")
    assert info is not None and info.name == "default"
