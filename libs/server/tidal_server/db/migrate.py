"""Programmatic Alembic: `migrate` (upgrade to head, idempotent) and `check_schema`.

No alembic.ini at runtime: the Config is built here with `script_location` pointing at the
migrations folder inside this package, and env.py receives our open connection.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import DatabaseUnavailableError, create_engine, redact

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: serialises concurrent `migrate` runs (several pods starting at once).
_PG_MIGRATE_LOCK = 0x7419_A1
_HINT = "run `tidal-server migrate` (or `tidal-server migrate --database-url URL`)"


class SchemaNotMigratedError(RuntimeError):
    """The database schema is not at the revision this code expects."""


def alembic_config() -> Config:
    cfg = Config()
    # configparser interpolation: a '%' in the install path must be escaped.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}; merge them")
    return heads[0]


def _upgrade(connection: sa.Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _unavailable(engine: AsyncEngine, exc: BaseException) -> DatabaseUnavailableError:
    # The driver's own message (SQLAlchemy's wrapper adds SQL and a docs link); first line only.
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return DatabaseUnavailableError(
        f"cannot use database {redact(engine.url)}: {reason} "
        "(check that the server is running and reachable, the database exists, and the credentials "
        "in TIDAL_DATABASE_URL / --database-url are right)"
    )


_CONNECT_ERRORS = (OSError, TimeoutError, OperationalError, InterfaceError)


async def migrate_engine(engine: AsyncEngine) -> None:
    """Upgrade the database behind `engine` to head (a no-op when already there)."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Transaction-scoped: released at commit; a second migrator waits, then finds
                # the schema at head and does nothing.
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATE_LOCK})
            await conn.run_sync(_upgrade)
    except _CONNECT_ERRORS as exc:
        raise _unavailable(engine, exc) from exc
    except DBAPIError as exc:
        # e.g. asyncpg's InvalidCatalogNameError (database does not exist) or a bad password.
        if exc.connection_invalidated or "connect" in type(exc.orig).__name__.lower():
            raise _unavailable(engine, exc) from exc
        raise


async def migrate(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


async def check_schema_engine(engine: AsyncEngine) -> None:
    """Raise `SchemaNotMigratedError` unless the database is at head."""
    head = head_revision()
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current)
    except (*_CONNECT_ERRORS, DBAPIError) as exc:
        raise _unavailable(engine, exc) from exc
    if current != head:
        state = "has no Tidal schema" if current is None else f"is at revision {current}, not {head}"
        raise SchemaNotMigratedError(f"database {redact(engine.url)} {state}: {_HINT}")


async def check_schema(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await check_schema_engine(engine)
    finally:
        await engine.dispose()
