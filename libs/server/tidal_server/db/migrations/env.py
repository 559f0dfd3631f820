"""Alembic environment. `tidal_server.db.migrate` runs it programmatically and hands over an
open connection in ``config.attributes["connection"]``; the offline/standalone path (plain
``alembic`` with ``-x url=...`` or ``TIDAL_DATABASE_URL``) is for writing new revisions."""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa
from alembic import context
from tidal_server.db.engine import create_engine
from tidal_server.db.tables import metadata

config = context.config


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables so future revisions
        # written once work on both backends.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: sa.Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("TIDAL_DATABASE_URL")
    if not url:
        raise SystemExit("alembic: pass -x url=... or set TIDAL_DATABASE_URL")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_standalone(_url()))
