"""Hostile rows in the `timers` table, on both buses (the `env` fixture in conftest.py): ten
thousand rows due in the same second, due times far in the past and in year 9999, a NUL in a
timer's key. Each must fire once at or after its due time, or be refused with a clear log, and
never stop the service reading and firing the other rows."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tidal_schema.messages import FireTimer
from tidal_server.db import tables as t
from tidal_server.service import Runtime
from tidal_timer.service import TimerService
from tidal_timer.settings import TimerSettings

from tests.support import polling

from .conftest import SHARDS, Env, advance, sent, timer, until

MANY = 10_000


async def _fired(env: Env, shard: int, n: int, within: float = 120.0) -> list[FireTimer]:
    await polling.until(
        lambda: len(env.history[shard].items) >= n,
        what=f"{n} fires of shard {shard}",
        deadline=within,
        interval=0.05,
    )
    return env.history[shard].fires()


async def test_ten_thousand_rows_due_in_the_same_second_fire_once_each(env: Env) -> None:
    """More rows than one read takes (load_batch_max 10,000 by default), all at one fire_at: the
    reads page by key within one due time; every row fires once, none twice (also after the
    sweep's turn: history has not deleted any row here)."""
    due = env.clock.now() + timedelta(seconds=1)
    rows = [timer(f"same-second-{i:05d}", due) for i in range(MANY + 1)]
    for start in range(0, len(rows), 2_000):
        await env.insert_rows(*rows[start : start + 2_000])
    svc = await env.start_service()
    await advance(env, svc, timedelta(seconds=1))
    fires = await _fired(env, 0, MANY + 1)
    assert sorted(f.key for f in fires) == sorted(r.key for r in rows)
    await until(svc, lambda: svc.fired == MANY + 1)
    for _ in range(3):  # past the sweep's grace and interval: nothing fires again
        await advance(env, svc, timedelta(seconds=10))
    await until(svc, svc.idle)
    assert len(env.history[0].items) == MANY + 1


async def test_due_times_far_in_the_past_and_in_year_9999(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """A row due in 1970 fires at once when its shard is acquired; rows due in 8999 (the latest the
    schema takes) and 9999 (beyond it: only a foreign writer could commit it) are never read into
    the heap, and their due times break no read, sweep or lateness figure."""
    ancient = timer("ancient", datetime(1970, 1, 2, tzinfo=UTC))
    far = timer("far", datetime(8999, 12, 31, 23, 59, tzinfo=UTC))
    now = timer("now", env.clock.now() + timedelta(seconds=1))
    await env.insert_rows(ancient, far, now)
    beyond = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    body = far.model_dump(mode="json") | {"key": "beyond", "fire_at": beyond.isoformat()}
    async with env.engine.begin() as conn:
        await conn.execute(
            sa.insert(t.timers), [{"shard_id": 0, "key": "beyond", "fire_at": beyond, "body": body}]
        )
    svc = await env.start_service()
    (first,) = await _fired(env, 0, 1)
    assert first == sent(ancient)
    assert "far" not in svc.heap and "beyond" not in svc.heap
    await advance(env, svc, timedelta(seconds=1))
    second = (await _fired(env, 0, 2))[1]
    assert second == sent(now)
    for _ in range(3):
        await advance(env, svc, timedelta(seconds=10))
    await until(svc, svc.idle)
    assert [f.key for f in env.history[0].fires()] == ["ancient", "now"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_nul_in_a_timer_key(env: Env) -> None:
    """Postgres cannot store it (the row is refused: nothing to fire); SQLite can, and the row
    fires once like any other, its key intact (JSON escapes the NUL), beside the other rows."""
    # The key is history's own (ids joined), not checked for NUL by the schema as ids are.
    base = timer("odd", env.clock.now() - timedelta(seconds=1))
    odd = base.model_copy(
        update={"key": "nul\x00key", "fire": base.fire.model_copy(update={"key": "nul\x00key"})}
    )
    good = timer("good", env.clock.now() + timedelta(seconds=1))
    if env.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError):
            await env.insert_rows(odd)
        expected = ["good"]
    else:
        await env.insert_rows(odd)
        expected = ["nul\x00key", "good"]
    await env.insert_rows(good)
    svc = await env.start_service()
    await advance(env, svc, timedelta(seconds=1))
    await _fired(env, 0, len(expected))
    for _ in range(3):  # past the sweep's grace and interval: nothing fires again
        await advance(env, svc, timedelta(seconds=10))
    await until(svc, svc.idle)
    assert [f.key for f in env.history[0].fires()] == expected


async def test_a_shard_moved_to_another_instance_between_read_and_fire(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """One instance read both shards' rows into its heap (at acquire: due within its first
    slice); a second instance joins before they are due, and one shard moves to it: the first
    releases it at its next heartbeat (dropping its heap entries), the second reads the table
    when it acquires it (at the same heartbeat or the next, perhaps after the due time). Each row
    fires once, at or after its due time; none is lost in the handover."""
    caplog.set_level(logging.INFO, logger="tidal.timer")
    due = env.clock.now() + timedelta(seconds=1.9)
    rows = [timer(f"moving-{shard}", due, shard=shard) for shard in range(SHARDS)]
    await env.insert_rows(*rows)
    first = await env.start_service()
    assert all(r.key in first.heap for r in rows)
    second = TimerService(
        Runtime(
            bus=env.bus,
            engine=env.engine,
            member_id=f"timer-{uuid.uuid4().hex[:6]}",
            shard_count=SHARDS,
            clock=env.clock,
        ),
        TimerSettings(),
    )
    await second.start()
    env.services.append(second)

    async def step(seconds: float) -> None:
        await until(first, first.idle)
        await until(second, second.idle)
        env.clock.advance(timedelta(seconds=seconds))

    async with asyncio.timeout(60):
        # Heartbeats on the fake clock: the first gives a shard up, the second takes it.
        while not (first.membership.owned and second.membership.owned):
            await step(0.1)
    assert first.membership.owned.isdisjoint(second.membership.owned)
    for shard in range(SHARDS):
        await _fired(env, shard, 1, within=60)
    for _ in range(25):  # past the sweep's grace and interval, a heartbeat at a time (a jump
        await step(1)  # beyond the members' 5 s TTL would make each see the other gone)
    await until(first, first.idle)
    await until(second, second.idle)
    # At least once each; at most once per ownership of its shard: the first may fire a row of
    # the moving shard before its heartbeat gives the shard up, and the row stays until history
    # applies the fire (none here), so the new owner's read finds it; history discards the
    # second fire as stale (docs/reliability.md, "At least once in"). Usually two owners; on a
    # loaded box a heartbeat can miss the fake clock's 5 s TTL while it steps, a member sees
    # the other gone and takes its shards for a while, and each such ownership may fire the
    # row once more (seen once in 30 runs on a loaded box: three fires of one row).
    for shard in range(SHARDS):
        keys = [f.key for f in env.history[shard].fires()]
        assert keys and set(keys) == {f"moving-{shard}"}, keys
        owners = _acquisitions(caplog, shard)
        assert owners >= 1
        assert len(keys) <= owners, (keys, owners, first.fired, second.fired)
    assert sum(len(h.items) for h in env.history) == first.fired + second.fired
    assert env.clock.now() >= due


def _acquisitions(caplog: pytest.LogCaptureFixture, shard: int) -> int:
    """How many times any instance acquired `shard` (the service logs each acquire)."""
    return sum(
        1
        for r in caplog.records
        if r.name == "tidal.timer"
        and r.msg.startswith("acquired timer shard")
        and r.args
        and r.args[0] == shard
    )
