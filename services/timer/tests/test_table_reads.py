"""The timer service's reads of the `timers` table on both buses (the `env` fixture in
conftest.py): recovery when a shard is acquired, the slices read ahead of the clock, paging a
backlog, one statement per read, and the sweep of overdue rows (docs/reliability.md, "Timers").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_schema.messages import FireTimer

from .conftest import (
    SHARDS,
    Env,
    advance,
    sent,
    timer,
    until,
)


async def test_recovery_fires_rows_present_at_start(env: Env) -> None:
    now = env.clock.now()
    overdue = timer("overdue", now - timedelta(seconds=10))
    soon = timer("soon", now + timedelta(seconds=1.5), shard=1)
    far = timer("far", now + timedelta(minutes=20))  # beyond the 2-second load window
    await env.insert_rows(overdue, soon, far)

    svc = await env.start_service()
    (d,) = await env.history[0].wait_for(1)  # overdue: fired right after the shard was acquired
    assert FireTimer.model_validate_json(d.body) == sent(overdue)
    assert "soon" in svc.heap and "far" not in svc.heap
    await until(svc, lambda: svc.fired == 1)  # counted after the confirm, which may trail the delivery
    assert svc.lateness == 10.0

    await advance(env, svc, 1.5)
    await env.history[1].wait_for(1)
    assert env.history[1].fires() == [sent(soon)]

    # The loader's next run (every load_interval) reads the next window, which reaches "far".
    await advance(env, svc, far.fire_at - env.clock.now() - timedelta(seconds=1))
    await until(svc, lambda: "far" in svc.heap)
    assert len(env.history[0].items) == 1
    await advance(env, svc, timedelta(seconds=1))
    await env.history[0].wait_for(2)
    assert env.history[0].fires()[1] == sent(far)


async def test_restart_recovers_timers_scheduled_before_the_stop(env: Env) -> None:
    svc = await env.start_service()
    sched = timer("t-restart", env.clock.now() + timedelta(seconds=1.5))
    # History commits the row and publishes the message; the first process takes it, then dies.
    await env.insert_rows(sched)
    await env.publish(sched)
    await until(svc, lambda: "t-restart" in svc.heap)
    await env.stop_service(svc)

    svc2 = await env.start_service()
    assert "t-restart" in svc2.heap
    await advance(env, svc2, 1.5)
    await env.history[0].wait_for(1)
    assert env.history[0].fires() == [sent(sched)]


async def test_a_backlog_larger_than_one_load_is_paged_in(env: Env) -> None:
    now = env.clock.now()
    # Several timers share one fire_at: paging must resume after a key, not a time.
    backlog = [timer(f"b{i}", now - timedelta(seconds=i // 3)) for i in range(7)]
    await env.insert_rows(*backlog)
    svc = await env.start_service(load_batch_max=2, publish_batch_max=1)
    await env.history[0].wait_for(7)
    assert sorted(f.key for f in env.history[0].fires()) == sorted(s.key for s in backlog)
    await until(svc, lambda: all(s.cursor is None for s in svc.shards.values()))


async def test_the_timer_reads_are_single_statements_without_a_rollback(env: Env) -> None:
    """The window loads and the stale lookup are one statement each: on Postgres no BEGIN before
    them and no ROLLBACK after (before, each cost three round trips and a rollback in Postgres's
    counters). Counted with asyncpg's query logger on the engine's own connections, which sees
    transaction control (a prepared statement's execution it does not log)."""
    if env.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's transactions are engine.py's BEGIN hook, not the pool's")
    sent: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda record: sent.append(record.query))

    await env.engine.dispose()  # the connections opened so far have no logger
    sa.event.listen(env.engine.sync_engine, "connect", on_connect)
    now = env.clock.now()
    done, live = timer("done", now + timedelta(seconds=1.8)), timer("live", now + timedelta(seconds=1.8))
    await env.insert_rows(done, live)  # found by the service's first load, not announced
    svc = await env.start_service()
    await until(svc, lambda: "done" in svc.heap and "live" in svc.heap)
    await env.delete_rows(done)
    await advance(env, svc, timedelta(seconds=1.3))
    await until(svc, lambda: svc.stale_dropped == 1)  # the lookup ran (the load did: the heap)
    await advance(env, svc, timedelta(seconds=0.5))
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body).key == "live"
    rollbacks = [q for q in sent if q.strip().rstrip(";").upper() == "ROLLBACK"]
    assert rollbacks == [], sent


async def test_a_row_without_a_message_is_read_and_fired_on_time(env: Env) -> None:
    """History sends no ScheduleTimer for a timer due beyond its horizon (a 10 s workflow task
    timeout): the row, committed after the service's first read, must be read before it is due.
    Before, the service read 10 minutes ahead at acquire and the next slice a minute later only
    beyond that, so a row committed meanwhile never fired."""
    svc = await env.start_service()
    timeout = timer("task-timeout", env.clock.now() + timedelta(seconds=10))
    await env.insert_rows(timeout)  # the row only, as history commits it: no message
    for _ in range(9):  # a step at a time, as the load loop's deadline falls due
        await advance(env, svc, timedelta(seconds=1))
    await until(svc, lambda: "task-timeout" in svc.heap)
    assert env.history[0].items == []
    await advance(env, svc, timeout.fire_at - env.clock.now())
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body) == sent(timeout)
    await until(svc, lambda: svc.fired == 1)
    assert svc.lateness == 0.0 and svc.received == 0


async def test_a_crash_between_the_read_and_the_fire_loses_nothing(env: Env) -> None:
    """The heap is a cache: a row read into it (no message ever sent) is read again by the next
    owner and fires at its due time."""
    svc = await env.start_service()
    sched = timer("read-then-crash", env.clock.now() + timedelta(seconds=5))
    await env.insert_rows(sched)
    await advance(env, svc, timedelta(seconds=4))
    await until(svc, lambda: "read-then-crash" in svc.heap)
    await env.stop_service(svc)  # the process dies holding it
    assert env.history[0].items == []

    svc2 = await env.start_service()
    assert "read-then-crash" in svc2.heap
    await advance(env, svc2, timedelta(seconds=1))
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body) == sent(sched)


async def test_a_row_committed_behind_the_read_horizon_is_swept_and_fired_late(env: Env) -> None:
    """A row whose commit showed up after the reads had passed its due time, with no message (a
    commit stalled beyond history's margin, or clocks further apart): the sweep fires it late
    instead of never. Before the sweep it stayed in the table unfired until the shard's next
    acquire."""
    svc = await env.start_service(sweep_interval_seconds=5, sweep_grace_seconds=5)
    await advance(env, svc, timedelta(seconds=1))
    await until(
        svc, lambda: all(s.horizon >= env.clock.now() + timedelta(seconds=2) for s in svc.shards.values())
    )
    behind = timer("behind", env.clock.now() + timedelta(seconds=1))  # inside the slice already read
    await env.insert_rows(behind)
    for _ in range(12):
        await advance(env, svc, timedelta(seconds=1))
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body) == sent(behind)
    await until(svc, lambda: svc.fired == 1)
    assert svc._sweep.found == 1


async def test_the_sweep_does_not_fire_again_what_history_has_not_applied_yet(env: Env) -> None:
    """A fired timer's row stays until history applies the fire (history down or behind): the
    sweep must not fire it again for every sweep meanwhile, and forgets it once the row is gone."""
    svc = await env.start_service(sweep_interval_seconds=2, sweep_grace_seconds=1)
    sched = timer("unapplied", env.clock.now() + timedelta(seconds=1))
    await env.publish(sched)
    await advance(env, svc, timedelta(seconds=1))
    await env.history[0].wait_for(1)
    await until(svc, lambda: svc.fired == 1)
    for _ in range(10):
        await advance(env, svc, timedelta(seconds=1))
    await until(svc, svc.idle)
    assert len(env.history[0].items) == 1 and svc._sweep.found == 0
    assert svc._sweep.remembered(0) == 1
    await env.delete_rows(sched)  # history applied it
    for _ in range(3):
        await advance(env, svc, timedelta(seconds=1))
    await until(svc, lambda: svc._sweep.remembered(0) == 0)


async def test_the_steady_reads_are_one_statement_for_every_shard(env: Env) -> None:
    """Every owned shard is read every second now (no ScheduleTimer for far timers), so the
    shards whose reads reached the same point share one statement per interval instead of one
    each; what they read still reaches each shard's heap."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM timers" in statement and "fire_at <" in statement:
            seen.append(statement)

    svc = await env.start_service()
    await advance(env, svc, timedelta(seconds=1))  # the first turn: every shard read to one end
    await until(svc, svc.idle)
    a, b = (
        timer("a", env.clock.now() + timedelta(seconds=2.5)),
        timer("b", env.clock.now() + timedelta(seconds=2.5), 1),
    )
    await env.insert_rows(a, b)
    sa.event.listen(env.engine.sync_engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            await advance(env, svc, timedelta(seconds=1))
        await until(svc, lambda: "a" in svc.heap and "b" in svc.heap)
        await until(svc, svc.idle)
    finally:
        sa.event.remove(env.engine.sync_engine, "before_cursor_execute", record)
    assert len(seen) == 3, seen
    await advance(env, svc, timedelta(seconds=1))
    await env.history[0].wait_for(1)
    await env.history[1].wait_for(1)


async def test_a_sweep_is_one_statement_for_every_shard(env: Env) -> None:
    """The sweep reads every owned shard's overdue rows in one statement (before: one per shard
    every sweep interval, the larger part of an idle service's statements), and what it finds
    still reaches each shard's heap and fires."""
    sweeps: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM timers" in statement and "fire_at <" in statement and "fire_at >" not in statement:
            sweeps.append(statement)  # no lower bound: an overdue read

    svc = await env.start_service(sweep_interval_seconds=5, sweep_grace_seconds=5)
    await advance(env, svc, timedelta(seconds=1))
    await until(
        svc, lambda: all(s.horizon >= env.clock.now() + timedelta(seconds=2) for s in svc.shards.values())
    )
    behind = [timer(f"behind-{s}", env.clock.now() + timedelta(seconds=1), s) for s in range(SHARDS)]
    await env.insert_rows(*behind)  # inside the slices already read, and no message
    sa.event.listen(env.engine.sync_engine, "before_cursor_execute", record)
    try:
        for _ in range(12):
            await advance(env, svc, timedelta(seconds=1))
        for shard, sched in enumerate(behind):
            (delivery,) = await env.history[shard].wait_for(1)
            assert FireTimer.model_validate_json(delivery.body) == sent(sched)
        await until(svc, lambda: svc.fired == SHARDS)
    finally:
        sa.event.remove(env.engine.sync_engine, "before_cursor_execute", record)
    assert svc._sweep.found == SHARDS
    assert len(sweeps) == 2, sweeps  # two sweeps in 12 s (every 5 s), each one statement
