"""The transient-or-poison rule (tidal_server.faults) on real database errors."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from tidal_server.bus import ConnectionLostError, UnroutableError
from tidal_server.db.engine import create_engine
from tidal_server.db.raw import pg_connection
from tidal_server.faults import describe, is_transient, sqlstate


async def _error(url: str, sql: str) -> Exception:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{sql} did not fail")


async def test_postgres_errors_are_classified_by_sqlstate(fresh_database_url: str) -> None:
    nul = await _error(fresh_database_url, "SELECT '\"a\\u0000b\"'::jsonb")
    assert sqlstate(nul) == "22P05" and not is_transient(nul)
    assert "\x00" not in describe(nul) and "22P05" in describe(nul)
    engine = create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT CAST(:v AS bigint)"), {"v": 2**70})
    except Exception as exc:
        too_big: Exception = exc
    else:
        raise AssertionError("an int beyond int64 was accepted")
    finally:
        await engine.dispose()
    assert not is_transient(too_big), describe(too_big)  # refused by the driver: the data's
    missing = await _error(fresh_database_url, "SELECT * FROM no_such_table")
    assert sqlstate(missing) == "42P01" and is_transient(missing)  # an operator's change, not the data


def test_other_errors() -> None:
    assert is_transient(ConnectionLostError("gone")) and is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert not is_transient(UnroutableError("no queue"))
    assert not is_transient(OverflowError("date value out of range"))
    assert not is_transient(RecursionError())
    assert describe(ValueError("a\x00b\nsecond line")) == "ValueError: a\\x00b"
    # What asyncpg raises for a statement sent while the server's termination of its backend is
    # still arriving (seen in test_held_connections.py): the connection's, so a batch that meets
    # it is retried, never bisected and dead-lettered.
    out_of_step = asyncpg.InternalClientError(
        "cannot switch to state 11; another operation (2) is in progress"
    )
    assert is_transient(out_of_step), describe(out_of_step)


async def test_raw_asyncpg_errors_are_classified_like_wrapped_ones(fresh_database_url: str) -> None:
    """History's batch commit talks to asyncpg directly (tidal_server.db.raw), so its errors
    arrive unwrapped: a closed connection is the infrastructure's, a value the driver cannot
    encode and a SQLSTATE 22 are the data's, as through SQLAlchemy."""
    engine = create_engine(fresh_database_url)
    try:
        async with pg_connection(engine) as db:
            with pytest.raises(Exception) as too_big:
                await db.execute("SELECT $1::bigint", 2**70)
            with pytest.raises(Exception) as nul:
                await db.execute("SELECT $1::text::jsonb", '"a\\u0000b"')
            await db.close()
            with pytest.raises(Exception) as closed:
                await db.execute("SELECT 1")
    finally:
        await engine.dispose()
    assert not is_transient(too_big.value), describe(too_big.value)
    assert sqlstate(nul.value) == "22P05" and not is_transient(nul.value)
    assert is_transient(closed.value), describe(closed.value)
