"""The transient-or-poison rule (tidal_server.faults) on real database errors."""

from __future__ import annotations

import sqlalchemy as sa
from tidal_server.bus import ConnectionLostError, UnroutableError
from tidal_server.db.engine import create_engine
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
