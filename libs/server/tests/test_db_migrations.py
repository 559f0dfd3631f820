"""Migrations create exactly the tables declared in tidal_server.db.tables, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db import (
    SchemaNotMigratedError,
    check_schema,
    create_engine,
    executions,
    metadata,
    migrate,
    migrate_engine,
    namespaces,
    outbox,
)
from tidal_server.db.engine import DatabaseUnavailableError
from tidal_server.db.migrate import alembic_config, check_schema_engine


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Sync on purpose: an async fixture cannot getfixturevalue() another async fixture.
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_database_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'tidal.sqlite3'}"


def _diff(connection: sa.Connection) -> list[Any]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(ctx, metadata))


async def _schema_diff(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


async def test_migrate_matches_metadata_and_is_idempotent(url: str) -> None:
    with pytest.raises(SchemaNotMigratedError, match="tidal-server migrate"):
        await check_schema(url)
    await migrate(url)
    await migrate(url)  # idempotent
    await check_schema(url)
    engine = create_engine(url)
    try:
        assert await _schema_diff(engine) == []
        async with engine.connect() as conn:
            names = (await conn.execute(sa.select(namespaces.c.name, namespaces.c.retention_days))).all()
        assert [tuple(r) for r in names] == [("default", 30)]
    finally:
        await engine.dispose()


async def test_compare_detects_drift(url: str) -> None:
    # Guards the test above against passing vacuously (e.g. if compare skipped indexes).
    await migrate(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP INDEX ix_executions_ns_close"))
        diff = await _schema_diff(engine)
        assert any(d[0] == "add_index" and d[1].name == "ix_executions_ns_close" for d in diff), diff
    finally:
        await engine.dispose()


async def test_round_trip_types(url: str) -> None:
    await migrate(url)
    engine = create_engine(url)
    start = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                executions.insert().values(
                    namespace="default",
                    workflow_id="wf",
                    run_id="r1",
                    shard_id=3,
                    workflow_type="T",
                    task_queue="q",
                    status="Running",
                    start_time=start,
                    next_event_id=2,
                    version=1,
                    state={"a": [1, 2, {"b": None}]},
                    result=None,
                )
            )
            seqs = []
            for i in range(3):
                res = await conn.execute(
                    outbox.insert()
                    .values(shard_id=3, exchange="x", routing_key=f"k{i}", body=b"\x00\xff", headers={})
                    .returning(outbox.c.seq)
                )
                seqs.append(res.scalar_one())
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(executions))).one()
            ob = (await conn.execute(sa.select(outbox).order_by(outbox.c.seq))).all()
        assert row.start_time == start and row.start_time.tzinfo is not None
        assert row.start_time.utcoffset() == timedelta(0)
        assert row.state == {"a": [1, 2, {"b": None}]}
        assert row.memo == {} and row.search_attributes == {} and row.result is None
        assert ob[0].body == b"\x00\xff" and ob[0].created_at.tzinfo == UTC

        # Deleting the highest seq must not let it be reused (consumers may dedupe on it).
        async with engine.begin() as conn:
            await conn.execute(outbox.delete().where(outbox.c.seq == seqs[-1]))
            res = await conn.execute(
                outbox.insert()
                .values(shard_id=3, exchange="x", routing_key="k", body=b"", headers={})
                .returning(outbox.c.seq)
            )
            assert res.scalar_one() > seqs[-1]
    finally:
        await engine.dispose()


async def test_naive_datetime_rejected(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"
    await migrate(url)
    engine = create_engine(url)
    try:
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            async with engine.begin() as conn:
                await conn.execute(namespaces.insert().values(name="n", created_at=datetime(2026, 1, 1)))
    finally:
        await engine.dispose()


async def test_in_memory_sqlite_shares_one_database() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        await migrate_engine(engine)

        async def add(name: str) -> None:
            async with engine.begin() as conn:
                await conn.execute(namespaces.insert().values(name=name))
                await asyncio.sleep(0.01)  # another task tries to use the DB meanwhile

        await asyncio.gather(*(add(f"ns{i}") for i in range(5)))
        async with engine.connect() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(namespaces))).scalar_one()
        assert count == 6
    finally:
        await engine.dispose()


async def test_unreachable_postgres_is_a_clear_error() -> None:
    url = "postgresql+asyncpg://tidal:secret@127.0.0.1:1/tidal"
    with pytest.raises(DatabaseUnavailableError) as info:
        await migrate(url)
    message = str(info.value)
    assert "127.0.0.1:1" in message and "secret" not in message


async def test_concurrent_migrations_on_postgres(fresh_database_url: str) -> None:
    # Several pods may run `tidal-server migrate` at once; the advisory lock serialises them.
    await asyncio.gather(*(migrate(fresh_database_url) for _ in range(3)))
    await check_schema(fresh_database_url)


def _to(revision: str) -> Any:
    def move(connection: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)

    return move


async def _plan_settings(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT proname, proconfig FROM pg_proc"
                " WHERE proname IN ('tidal_write_batch', 'tidal_load_currents')"
            )
        )
        return {r[0]: r[1] for r in rows}


async def test_custom_plans_migrate_down_and_up_again(fresh_database_url: str) -> None:
    """Migration 0006: the batch function planned per call and the starts' read in a function of
    its own; down to 0005 both are as they were, and up again restores them."""
    await migrate(fresh_database_url)
    engine = create_engine(fresh_database_url)
    custom = ["plan_cache_mode=force_custom_plan"]
    try:
        assert await _plan_settings(engine) == {"tidal_write_batch": custom, "tidal_load_currents": custom}
        async with engine.begin() as conn:
            await conn.run_sync(_to("0005"))
        assert await _plan_settings(engine) == {"tidal_write_batch": None}
        async with engine.begin() as conn:
            await conn.run_sync(_to("head"))
        assert await _plan_settings(engine) == {"tidal_write_batch": custom, "tidal_load_currents": custom}
        await check_schema_engine(engine)
    finally:
        await engine.dispose()


async def _write_batch_source(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = 'tidal_write_batch'"))
        return str(rows.scalar_one())


async def test_generic_plans_for_inserts_migrate_down_and_up_again(fresh_database_url: str) -> None:
    """Migration 0007: the batch function switches plan_cache_mode per statement, still under
    its force_custom_plan SET clause (which confines the switches to the call); down to 0006 the
    function is 0005's again with 0006's setting, and up again restores 0007's."""
    await migrate(fresh_database_url)
    engine = create_engine(fresh_database_url)
    custom = ["plan_cache_mode=force_custom_plan"]
    try:
        assert "force_generic_plan" in await _write_batch_source(engine)
        assert (await _plan_settings(engine))["tidal_write_batch"] == custom
        async with engine.begin() as conn:
            await conn.run_sync(_to("0006"))
        assert "set_config" not in await _write_batch_source(engine)
        assert (await _plan_settings(engine))["tidal_write_batch"] == custom
        async with engine.begin() as conn:
            await conn.run_sync(_to("head"))
        assert "force_generic_plan" in await _write_batch_source(engine)
        assert (await _plan_settings(engine))["tidal_write_batch"] == custom
        await check_schema_engine(engine)
    finally:
        await engine.dispose()
