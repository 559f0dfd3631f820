"""Async engines for Postgres (production) and SQLite (embedded dev mode)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from .sqlite_loop import FairPool, connect_on_loop

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached or opened; the message says which URL and what to check."""


def redact(url: str | URL) -> str:
    """The URL with its password hidden, for logs and error messages."""
    if str(url).startswith("sqlite"):
        return str(url)  # no credentials, and rendering would percent-encode ":memory:"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def is_sqlite(engine: AsyncEngine | sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    echo: bool = False,
    ssl_ca_file: str | None = None,
    sqlite_on_loop: bool = False,
) -> AsyncEngine:
    """An engine for `postgresql+asyncpg://...` or `sqlite+aiosqlite:///path` (or `:memory:`).
    `ssl_ca_file` (Postgres): TLS with the server's certificate verified against this CA.
    `sqlite_on_loop` (a SQLite file): one connection whose statements run on the event loop's
    thread (sqlite_loop.py), for the embedded mode, where this process is the file's only user."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed, pool_size=pool_size, echo=echo, on_loop=sqlite_on_loop)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"unsupported database URL {parsed!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://"
        )
    if parsed.drivername == "postgresql":
        # A bare postgresql:// URL would pick psycopg2, which is not installed and not async.
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return create_async_engine(
        parsed,
        echo=echo,
        # Up to 2 x pool_size connections, as when half of them were overflow that closed on
        # return; now every one stays open once opened. A burst of result long polls used to
        # open and close overflow connections again and again, each a backend fork and a TLS
        # attempt (docs/performance.md, "Frontend and client").
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_timeout=30,
        # No pre-ping: it costs a round trip per checkout on the hot path; dead connections are
        # invalidated on first error and recycling covers idle ones closed by proxies/firewalls.
        pool_recycle=1800,
        # Fail fast (not asyncpg's 60 s) when the server is unreachable, so start-up says so.
        connect_args=_pg_connect_args(ssl_ca_file),
    )


def _pg_connect_args(ssl_ca_file: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT_S}
    if ssl_ca_file:
        args["ssl"] = ssl.create_default_context(cafile=ssl_ca_file)
    return args


def sqlite_begin(engine: AsyncEngine) -> str:
    """The statement that begins a transaction on this SQLite engine (see below for why)."""
    return "BEGIN" if _is_memory(engine.url) else "BEGIN IMMEDIATE"


def _create_sqlite_engine(url: URL, *, pool_size: int, echo: bool, on_loop: bool) -> AsyncEngine:
    if url.drivername == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    memory = _is_memory(url)
    if not memory and url.database:
        # First run of `tidal-server dev` on a laptop: ~/.tidal may not exist yet.
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"echo": echo}
    if memory:
        # One connection, handed out in turn: every session sees the same in-memory database,
        # and (unlike StaticPool, which shares it *concurrently*) two tasks never interleave
        # statements inside one SQLite transaction. Never recycled: that would drop the data.
        kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=60)
        kwargs["pool_recycle"] = -1
    elif on_loop and url.database:
        # One connection (see sqlite_loop.py for why never more), handed out in turn.
        kwargs.update(poolclass=FairPool, pool_size=1, max_overflow=0, pool_timeout=60)
        kwargs["async_creator"] = connect_on_loop(str(Path(url.database).expanduser()))
    else:
        kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=60)
    engine = create_async_engine(url, **kwargs)
    # With one connection, plain BEGIN suffices. With several, BEGIN IMMEDIATE takes the write
    # lock up front: a deferred transaction that reads and then writes can fail with
    # SQLITE_BUSY(_SNAPSHOT) when another connection committed in between, and busy_timeout
    # does not help there. Serialising transactions is fine for the dev mode.
    begin = sqlite_begin(engine)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the sqlite3 module's legacy heuristics) decide where transactions
        # start, so SELECTs are inside the transaction and SAVEPOINT works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine
