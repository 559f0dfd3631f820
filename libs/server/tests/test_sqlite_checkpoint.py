"""The embedded mode's WAL checkpoints on a thread of their own (sqlite_checkpoint.py): the loop's
connection keeps only a rare fallback checkpoint, the WAL stays bounded under commits that never
pause, committed rows survive a kill, and the thread ends with its connection."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tidal_server.db import create_engine
from tidal_server.db.raw import sqlite_transaction
from tidal_server.db.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer

from tests.support.polling import until

_THREAD = "tidal-sqlite-checkpoint"


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == _THREAD and t.is_alive()]


async def _loop_connection(engine: Any) -> Any:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return raw.driver_connection


def _wal_pages(path: Path) -> int:
    """The WAL file's size in frames. SQLite writes a WAL started over from its beginning again
    without shrinking the file, so this is the most the WAL ever held (a checkpoint from another
    connection here would itself let the WAL start over, hiding what is measured)."""
    return (path.with_name(path.name + "-wal").stat().st_size - 32) // (4096 + 24)


async def _create(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))


async def test_the_loop_connection_checkpoints_rarely_and_a_thread_does_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_on_loop=True)
    try:
        await _create(engine)
        db = await _loop_connection(engine)
        async with engine.connect() as conn:
            auto = (await conn.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert auto == FALLBACK_PAGES
        assert db.checkpointer is not None
        for i in range(200):
            async with sqlite_transaction(engine) as tx:
                await tx.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 3000))
        # Far below the fallback: only the thread can have copied these frames.
        await until(lambda: db.checkpointer.checkpoints > 0, what="a checkpoint off the loop")
        with sqlite3.connect(path) as other:  # the rows are in the database file's view
            assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 200
    finally:
        await engine.dispose()


async def test_the_wal_stays_bounded_while_commits_never_pause(tmp_path: Path) -> None:
    """The thread cannot start the WAL over while the loop keeps committing (SQLite restarts it
    only when a writer finds every frame copied); the loop's fallback checkpoint must."""
    path = tmp_path / "db.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_on_loop=True)
    try:
        await _create(engine)
        for i in range(3 * FALLBACK_PAGES):  # each commit writes at least one page
            async with sqlite_transaction(engine) as tx:
                await tx.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i % 500, "y" * 3000))
        assert _wal_pages(path) <= FALLBACK_PAGES + 100
    finally:
        await engine.dispose()


async def test_the_thread_ends_with_its_connection(tmp_path: Path) -> None:
    before = len(_checkpointers())
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", sqlite_on_loop=True)
    await _create(engine)
    assert len(_checkpointers()) == before + 1
    await engine.dispose()
    assert len(_checkpointers()) == before


def test_a_checkpointer_on_a_file_it_cannot_open_ends_quietly(tmp_path: Path) -> None:
    cp = Checkpointer(str(tmp_path / "missing" / "db.sqlite3"), interval=0.001)
    cp.start()
    cp.stop()
    assert cp.checkpoints == 0
    assert not cp._thread.is_alive()


_WRITER = """
import asyncio, sys
from tidal_server.db import create_engine
from tidal_server.db.raw import sqlite_transaction

async def main(url):
    engine = create_engine(url, sqlite_on_loop=True)
    async with sqlite_transaction(engine) as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    for i in range(3000):
        async with sqlite_transaction(engine) as tx:
            await tx.execute("INSERT INTO t VALUES (?, ?)", (i, "z" * 2000))
        if i == 2999:
            print("committed", flush=True)
    await asyncio.Event().wait()  # killed here, checkpointer and all

asyncio.run(main(sys.argv[1]))
"""


def test_every_commit_survives_a_kill_of_the_process(tmp_path: Path) -> None:
    """SIGKILL after the last COMMIT returned, with the thread checkpointing beside the loop:
    nothing committed is lost and the file opens clean."""
    path = tmp_path / "db.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, f"sqlite+aiosqlite:///{path}"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*), max(k) FROM t").fetchone() == (3000, 2999)
