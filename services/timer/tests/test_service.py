"""The timer service against both buses: InMemoryBus + SQLite (the embedded mode) and AmqpBus on a
fresh RabbitMQ vhost + a fresh Postgres database. Time is a FakeClock; tests wait on conditions
with deadlines (the service's `progress` event, or deliveries arriving), never on sleeps."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import names
from tidal_schema.messages import CancelTimer, FireTimer, ScheduleTimer, ScheduleTimers, TimerKind
from tidal_server.bus import (
    DLX_EXCHANGE,
    H_DL_REASON,
    AmqpBus,
    Bus,
    Delivery,
    InMemoryBus,
    OutMessage,
    QueueSpec,
)
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime
from tidal_timer.service import TimerService
from tidal_timer.settings import TimerSettings
from tidal_timer.store import existing_keys

from tests.support.tcp_proxy import Proxy

DEADLINE = 10.0
SHARDS = 2


class Collector:
    """Acks and records deliveries; `wait_for(n)` waits (with a deadline) until n arrived."""

    def __init__(self) -> None:
        self.items: list[Delivery] = []
        self._changed = asyncio.Event()

    async def __call__(self, d: Delivery) -> None:
        self.items.append(d)
        await d.ack()
        self._changed.set()

    async def wait_for(self, n: int) -> list[Delivery]:
        async with asyncio.timeout(DEADLINE):
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.items

    def fires(self) -> list[FireTimer]:
        return [FireTimer.model_validate_json(d.body) for d in self.items]


class Env:
    def __init__(self, bus: Bus, engine: AsyncEngine) -> None:
        self.bus = bus
        self.engine = engine
        self.clock = FakeClock()
        self.history = [Collector() for _ in range(SHARDS)]
        self.dlq = Collector()
        self.services: list[TimerService] = []

    async def setup(self) -> None:
        await self.bus.declare_exchange(names.HISTORY_EXCHANGE, "direct")
        for shard in range(SHARDS):
            # What history's topology declares; the test stands in for history's consumer.
            await self.bus.declare_queue(
                QueueSpec(
                    name=names.history_queue(shard),
                    bindings=[(names.HISTORY_EXCHANGE, names.shard_routing_key(shard))],
                )
            )
            await self.bus.consume(names.history_queue(shard), self.history[shard])
        # A private copy of everything dead-lettered (the DLX is a fanout).
        tap = f"test.dlq-tap.{uuid.uuid4().hex[:8]}"
        await self.bus.declare_queue(QueueSpec(name=tap, bindings=[(DLX_EXCHANGE, "")], dead_letter=False))
        await self.bus.consume(tap, self.dlq)

    async def start_service(
        self, *, bus: Bus | None = None, lookup: Any = None, **settings: Any
    ) -> TimerService:
        svc = TimerService(
            Runtime(
                bus=bus or self.bus,
                engine=self.engine,
                member_id=f"timer-{uuid.uuid4().hex[:6]}",
                shard_count=SHARDS,
                clock=self.clock,
            ),
            TimerSettings(**settings),
            **({} if lookup is None else {"lookup": lookup}),
        )
        await svc.start()
        self.services.append(svc)
        assert svc.shards.keys() == set(range(SHARDS))
        return svc

    async def stop_service(self, svc: TimerService) -> None:
        await svc.stop()
        self.services.remove(svc)

    async def publish(self, message: ScheduleTimer | CancelTimer, *, shard: int | None = None) -> None:
        """As history does: a ScheduleTimer's row is committed before the message goes out."""
        if isinstance(message, ScheduleTimer):
            await self.upsert_row(message)
        await self.publish_raw(
            message.model_dump_json().encode(), message.shard_id if shard is None else shard
        )

    async def publish_raw(self, body: bytes, shard: int) -> None:
        await self.bus.publish(
            OutMessage(exchange=names.TIMER_EXCHANGE, routing_key=names.shard_routing_key(shard), body=body)
        )

    async def upsert_row(self, s: ScheduleTimer) -> None:
        await self.delete_rows(s)
        await self.insert_rows(s)

    async def delete_rows(self, *timers: ScheduleTimer) -> None:
        """What history does once the work a timer was set for is done."""
        async with self.engine.begin() as conn:
            for s in timers:
                await conn.execute(
                    sa.delete(t.timers).where(t.timers.c.shard_id == s.shard_id, t.timers.c.key == s.key)
                )

    async def insert_rows(self, *timers: ScheduleTimer) -> None:
        """What history commits with the outbox row of each ScheduleTimer."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(t.timers),
                [
                    {
                        "shard_id": s.shard_id,
                        "key": s.key,
                        "fire_at": s.fire_at,
                        "body": s.model_dump(mode="json"),
                    }
                    for s in timers
                ],
            )


def timer(key: str, fire_at: datetime, shard: int = 0) -> ScheduleTimer:
    fire = FireTimer(
        workflow_id=f"wf-{key}", run_id="run-1", kind=TimerKind.USER_TIMER, key=key, timer_id=key
    )
    return ScheduleTimer(shard_id=shard, key=key, fire_at=fire_at, fire=fire)


async def until(svc: TimerService, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while True:
            svc.progress.clear()
            if predicate():
                return
            await svc.progress.wait()


async def advance(env: Env, svc: TimerService, delta: timedelta | float) -> None:
    """Move the fake clock once the service is parked on it (else a sleep registered after the
    advance would measure from the new time and wake late)."""
    await until(svc, svc.idle)
    env.clock.advance(delta)


@pytest.fixture(params=["memory", "amqp"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    bus: Bus
    if request.param == "amqp":
        url = request.getfixturevalue("fresh_database_url")
        bus = AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name="tidal-test-timer")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'tidal.db'}"
        bus = InMemoryBus()
    await migrate(url)
    engine = create_engine(url, pool_size=4)
    await bus.connect()
    e = Env(bus, engine)
    try:
        await e.setup()
        yield e
    finally:
        for svc in list(e.services):
            await svc.stop()
        await bus.close()
        await engine.dispose()


async def test_schedule_fires_once_due_and_not_before(env: Env) -> None:
    svc = await env.start_service()
    now = env.clock.now()
    sched = timer("t1", now + timedelta(seconds=1.5), shard=1)
    await env.publish(sched)
    await until(svc, lambda: "t1" in svc.heap)

    await advance(env, svc, timedelta(seconds=1.499))
    # The firing loop only ever publishes what peek_due(now) returns; with the clock short of
    # fire_at nothing is due, so nothing may have gone out.
    assert svc.heap.peek_due(env.clock.now()) == []
    assert svc.fired == 0 and env.history[1].items == []

    await advance(env, svc, timedelta(seconds=0.001))
    (delivery,) = await env.history[1].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body) == sched.fire
    assert delivery.routing_key == names.shard_routing_key(1)
    await until(svc, lambda: svc.fired == 1)
    assert "t1" not in svc.heap and svc.lateness == 0.0
    assert env.history[0].items == []


async def test_earlier_timer_wakes_the_firing_loop(env: Env) -> None:
    svc = await env.start_service()
    now = env.clock.now()
    await env.publish(timer("late", now + timedelta(seconds=1.9)))
    await until(svc, lambda: "late" in svc.heap)
    # The loop now sleeps until +1.9 s; an earlier timer must cut that sleep short.
    await env.publish(timer("early", now + timedelta(seconds=1)))
    await until(svc, lambda: "early" in svc.heap)
    await advance(env, svc, 1)
    await env.history[0].wait_for(1)
    assert [f.key for f in env.history[0].fires()] == ["early"]
    await advance(env, svc, 0.9)
    await env.history[0].wait_for(2)
    assert [f.key for f in env.history[0].fires()] == ["early", "late"]


async def test_recovery_fires_rows_present_at_start(env: Env) -> None:
    now = env.clock.now()
    overdue = timer("overdue", now - timedelta(seconds=10))
    soon = timer("soon", now + timedelta(seconds=1.5), shard=1)
    far = timer("far", now + timedelta(minutes=20))  # beyond the 2-second load window
    await env.insert_rows(overdue, soon, far)

    svc = await env.start_service()
    (d,) = await env.history[0].wait_for(1)  # overdue: fired right after the shard was acquired
    assert FireTimer.model_validate_json(d.body) == overdue.fire
    assert "soon" in svc.heap and "far" not in svc.heap
    await until(svc, lambda: svc.fired == 1)  # counted after the confirm, which may trail the delivery
    assert svc.lateness == 10.0

    await advance(env, svc, 1.5)
    await env.history[1].wait_for(1)
    assert env.history[1].fires() == [soon.fire]

    # The loader's next run (every load_interval) reads the next window, which reaches "far".
    await advance(env, svc, far.fire_at - env.clock.now() - timedelta(seconds=1))
    await until(svc, lambda: "far" in svc.heap)
    assert len(env.history[0].items) == 1
    await advance(env, svc, timedelta(seconds=1))
    await env.history[0].wait_for(2)
    assert env.history[0].fires()[1] == far.fire


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
    assert env.history[0].fires() == [sched.fire]


async def test_cancelled_timer_does_not_fire(env: Env) -> None:
    svc = await env.start_service()
    now = env.clock.now()
    cancelled = timer("cancelled", now + timedelta(seconds=1.5))
    await env.publish(cancelled)
    await until(svc, lambda: "cancelled" in svc.heap)
    # History deletes the row with the cancel: a row left behind would be a live timer, which
    # the sweep fires once it is overdue (test_a_row_committed_behind_the_read_horizon_...).
    await env.delete_rows(cancelled)
    await env.publish(CancelTimer(shard_id=0, key="cancelled"))
    await until(svc, lambda: "cancelled" not in svc.heap)
    await advance(env, svc, 60)
    # A canary due after the cancelled timer: once it fired, the cancelled one would have too.
    await env.publish(timer("canary", env.clock.now()))
    await env.history[0].wait_for(1)
    assert [f.key for f in env.history[0].fires()] == ["canary"]
    await until(svc, lambda: svc.fired == 1)


async def test_timer_beyond_the_window_waits_for_its_load(env: Env) -> None:
    svc = await env.start_service()
    far = timer("far-msg", env.clock.now() + timedelta(hours=1))
    await env.insert_rows(far)
    await env.publish(far)
    await until(svc, lambda: svc.received == 1)
    assert len(svc.heap) == 0
    # Acked but not kept: the row is in the database and a later window load brings it in.
    await advance(env, svc, far.fire_at - env.clock.now() - timedelta(seconds=1))
    await until(svc, lambda: "far-msg" in svc.heap)
    await advance(env, svc, timedelta(seconds=1))
    await env.history[0].wait_for(1)


async def test_invalid_messages_are_dead_lettered_and_the_service_keeps_working(env: Env) -> None:
    svc = await env.start_service()
    await env.publish_raw(b"not json", 0)
    await env.publish_raw(b'{"type": "ScheduleTimer", "shard_id": 0}', 0)
    await env.publish(timer("wrong-shard", env.clock.now(), shard=1), shard=0)
    naive = timer("naive", env.clock.now()).model_dump(mode="json")
    naive["fire_at"] = "2026-01-01T00:00:00"
    await env.publish_raw(json.dumps(naive).encode(), 0)

    dead = await env.dlq.wait_for(4)
    reasons = [str(d.headers[H_DL_REASON]) for d in dead]
    assert sum("invalid timer message" in r for r in reasons) == 3
    assert any("shard 1" in r for r in reasons)
    assert svc.dead_lettered == 4

    await env.publish(timer("ok", env.clock.now()))
    await env.history[0].wait_for(1)
    assert [f.key for f in env.history[0].fires()] == ["ok"]


async def test_publish_failure_is_retried_until_it_succeeds(env: Env) -> None:
    # No history queue for shard 1 yet: the fire is unroutable, so it must stay and be retried.
    await env.bus.delete_queue(names.history_queue(1))
    svc = await env.start_service()
    await env.publish(timer("retry", env.clock.now(), shard=1))
    await until(svc, lambda: svc.publish_failures >= 1)
    assert "retry" in svc.heap

    await env.bus.declare_queue(
        QueueSpec(
            name=names.history_queue(1), bindings=[(names.HISTORY_EXCHANGE, names.shard_routing_key(1))]
        )
    )
    got = Collector()
    await env.bus.consume(names.history_queue(1), got)
    await advance(env, svc, svc._settings.publish_backoff_max_seconds)  # past any backoff
    await got.wait_for(1)
    await until(svc, lambda: svc.fired == 1 and "retry" not in svc.heap)


async def test_a_backlog_larger_than_one_load_is_paged_in(env: Env) -> None:
    now = env.clock.now()
    # Several timers share one fire_at: paging must resume after a key, not a time.
    backlog = [timer(f"b{i}", now - timedelta(seconds=i // 3)) for i in range(7)]
    await env.insert_rows(*backlog)
    svc = await env.start_service(load_batch_max=2, publish_batch_max=1)
    await env.history[0].wait_for(7)
    assert sorted(f.key for f in env.history[0].fires()) == sorted(s.key for s in backlog)
    await until(svc, lambda: all(s.cursor is None for s in svc.shards.values()))


async def test_a_timer_whose_row_is_gone_is_not_fired(env: Env) -> None:
    """History deleted the row (the task completed, the activity reported): the fire could only be
    stale, so it is forgotten unpublished; the live timer in the same batch still fires."""
    svc = await env.start_service()
    now = env.clock.now()
    done, live = timer("done", now + timedelta(seconds=1.8)), timer("live", now + timedelta(seconds=1.8))
    await env.publish(done)
    await env.publish(live)
    await until(svc, lambda: "done" in svc.heap and "live" in svc.heap)
    await env.delete_rows(done)
    # Looked up ahead of the due time (the look-ahead is 1 s): dropped before it falls due.
    await advance(env, svc, timedelta(seconds=1.3))
    await until(svc, lambda: "done" not in svc.heap)
    assert svc.stale_dropped == 1 and "live" in svc.heap and env.history[0].items == []
    await advance(env, svc, timedelta(seconds=0.5))
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body).key == "live"
    await until(svc, lambda: "live" not in svc.heap and svc.fired == 1)
    assert svc.stale_dropped == 1 and svc.fired_unchecked == 0


async def test_stale_fires_are_sent_when_dropping_is_off(env: Env) -> None:
    svc = await env.start_service(drop_stale_fires=False)
    now = env.clock.now()
    done = timer("done", now + timedelta(seconds=1.8))
    await env.publish(done)
    await until(svc, lambda: "done" in svc.heap)
    await env.delete_rows(done)
    await advance(env, svc, timedelta(seconds=1.8))
    await env.history[0].wait_for(1)
    assert svc.stale_dropped == 0


async def test_a_schedule_timers_message_schedules_each_and_a_mixed_one_is_dead_lettered(env: Env) -> None:
    """History sends the timers one commit sets for a shard as one ScheduleTimers message."""
    svc = await env.start_service()
    now = env.clock.now()
    batch = [timer(f"b{i}", now + timedelta(seconds=1 + 0.3 * i)) for i in range(3)]
    for s in batch:
        await env.insert_rows(s)
    await env.publish_raw(ScheduleTimers(timers=tuple(batch)).model_dump_json().encode(), 0)
    mixed = ScheduleTimers(timers=(timer("m0", now, shard=0), timer("m1", now, shard=1)))
    await env.publish_raw(mixed.model_dump_json().encode(), 0)
    await env.dlq.wait_for(1)
    await until(svc, lambda: all(f"b{i}" in svc.heap for i in range(3)))
    assert "m0" not in svc.heap and "m1" not in svc.heap
    await advance(env, svc, timedelta(seconds=10))
    fires = [f.key for f in (FireTimer.model_validate_json(d.body) for d in await env.history[0].wait_for(3))]
    assert sorted(fires) == ["b0", "b1", "b2"]


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


def parked_until(svc: TimerService, loop: str, when: datetime) -> bool:
    """The loop sleeps until `when` (give or take the float seconds it was computed from)."""
    deadline = svc._parked.get(loop)
    return deadline is not None and abs(deadline - when) < timedelta(milliseconds=1)


class GatedLookup:
    """The real stale lookup, whose answer is held back until released: a slow database."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.progress: asyncio.Event | None = None  # the service's, so that `until` looks again

    async def __call__(self, engine: AsyncEngine, keys: Any) -> set[tuple[int, str]]:
        alive = await existing_keys(engine, keys)  # what the table held when it was read
        self.started.set()
        if self.progress is not None:
            self.progress.set()
        await self.release.wait()
        return alive


class GatedBus:
    """The test's bus, except that a publish naming a held timer key waits until released: a
    broker slow to confirm that fire."""

    def __init__(self, inner: Bus, held: str) -> None:
        self._inner = inner
        self._held = held
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def publish_many(self, messages: Any) -> None:
        if any((m.message_id or "").startswith(f"{self._held}@") for m in messages):
            self.holding.set()
            await self.release.wait()
        await self._inner.publish_many(messages)


async def test_a_fire_does_not_wait_for_a_slow_stale_lookup(env: Env) -> None:
    """Before, the firing loop looked the due timers up and published only after the answer: a
    slow database made every timer late. Now the fire goes out unchecked (history discards a
    stale one) and the lookup's answer is not waited for."""
    lookup = GatedLookup()
    svc = await env.start_service(lookup=lookup)
    lookup.progress = svc.progress
    due = env.clock.now() + timedelta(seconds=1.8)
    await env.publish(timer("slow-db", due))
    await until(svc, lambda: "slow-db" in svc.heap)
    await advance(env, svc, timedelta(seconds=1.3))  # within the look-ahead
    await until(svc, lambda: lookup.started.is_set() or svc.idle())
    if lookup.started.is_set():
        # Looked up ahead: the database has not answered by the due time.
        await until(svc, lambda: parked_until(svc, "fire", due))
    env.clock.advance(timedelta(seconds=0.5))
    async with asyncio.timeout(DEADLINE):
        await lookup.started.wait()
    (delivery,) = await env.history[0].wait_for(1)  # while the lookup is still unanswered
    assert FireTimer.model_validate_json(delivery.body).key == "slow-db"
    await until(svc, lambda: svc.fired == 1 and "slow-db" not in svc.heap)
    assert svc.fired_unchecked == 1
    lookup.release.set()
    await until(svc, svc.idle)
    assert svc.stale_dropped == 0 and len(env.history[0].items) == 1


async def test_a_fire_does_not_wait_for_an_earlier_fires_confirm(env: Env) -> None:
    """Before, the firing loop awaited each batch's confirm before it looked at the heap again, so
    a timer falling due meanwhile waited for it. Now each batch's confirm is awaited on its own."""
    bus = GatedBus(env.bus, held="first")
    svc = await env.start_service(bus=bus)
    now = env.clock.now()
    first, second = timer("first", now + timedelta(seconds=1)), timer("second", now + timedelta(seconds=1.8))
    await env.publish(first)
    await env.publish(second)
    await until(svc, lambda: "first" in svc.heap and "second" in svc.heap)
    await advance(env, svc, timedelta(seconds=1))
    async with asyncio.timeout(DEADLINE):
        await bus.holding.wait()
    # The firing loop is asleep until the second timer's due time, not stuck in the first publish.
    await until(svc, lambda: parked_until(svc, "fire", second.fire_at))
    env.clock.advance(timedelta(seconds=0.8))
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body).key == "second"
    assert "first" in svc.heap  # unconfirmed: still held
    bus.release.set()
    await env.history[0].wait_for(2)
    await until(svc, lambda: svc.fired == 2 and len(svc.heap) == 0)


async def test_a_timer_rearmed_while_its_lookup_is_in_flight_still_fires(env: Env) -> None:
    """History deleted the row and wrote it again under the same key and due time (a re-armed
    timer) while the lookup was reading: its "no row" answer is older than the ScheduleTimer that
    arrived meanwhile, so it must not drop the timer. Before, it did, and the timer never fired
    (the load window had passed it)."""
    lookup = GatedLookup()
    svc = await env.start_service(lookup=lookup)
    lookup.progress = svc.progress
    sched = timer("rearmed", env.clock.now() + timedelta(seconds=1.8))
    await env.publish(sched)
    await until(svc, lambda: "rearmed" in svc.heap)
    await env.delete_rows(sched)
    await advance(env, svc, timedelta(seconds=1.3))  # within the look-ahead
    await until(svc, lambda: lookup.started.is_set() or svc.idle())
    if not lookup.started.is_set():
        env.clock.advance(timedelta(seconds=0.5))  # a lookup made at the due time
    async with asyncio.timeout(DEADLINE):
        await lookup.started.wait()
    await env.publish(sched)  # re-armed: the row again, then its ScheduleTimer
    await until(svc, lambda: svc.received == 2)
    lookup.release.set()
    await until(svc, lambda: svc.idle() or svc.fired == 1)
    if env.clock.now() < sched.fire_at:
        await advance(env, svc, sched.fire_at - env.clock.now())
    (delivery,) = await env.history[0].wait_for(1)
    assert FireTimer.model_validate_json(delivery.body).key == "rearmed"
    assert svc.stale_dropped == 0


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
    assert FireTimer.model_validate_json(delivery.body) == timeout.fire
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
    assert FireTimer.model_validate_json(delivery.body) == sched.fire


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
    assert FireTimer.model_validate_json(delivery.body) == behind.fire
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
            assert FireTimer.model_validate_json(delivery.body) == sched.fire
        await until(svc, lambda: svc.fired == SHARDS)
    finally:
        sa.event.remove(env.engine.sync_engine, "before_cursor_execute", record)
    assert svc._sweep.found == SHARDS
    assert len(sweeps) == 2, sweeps  # two sweeps in 12 s (every 5 s), each one statement


class OneFireGate(GatedBus):
    """Holds the publish of one fire (by message id: a key at one due time) until released, then
    publishes it, or fails it as a broker gone would."""

    def __init__(self, inner: Bus, message_id: str, *, fail: bool) -> None:
        super().__init__(inner, held=message_id)
        self._fail = fail

    async def publish_many(self, messages: Any) -> None:
        if any(m.message_id == self._held for m in messages):
            self.holding.set()
            await self.release.wait()
            if self._fail:
                raise ConnectionError("the broker went away with this fire in flight")
        await self._inner.publish_many(messages)


@pytest.mark.parametrize("rearm", ["later", "same"])
@pytest.mark.parametrize("outcome", ["confirmed", "failed"])
async def test_a_timer_rearmed_while_its_fire_is_in_flight(env: Env, rearm: str, outcome: str) -> None:
    """History re-arms a key (a new ScheduleTimer, its row rewritten) while the timer's fire is
    being published. A later due time: the fire in flight goes out once if confirmed, is dropped
    if its publish fails (superseded), and the re-armed one fires at its own time. The same due
    time: one fire in all, retried if its publish fails. Never twice, never lost."""
    now = env.clock.now()
    # Within the 2 s load window, so that the messages put them in the heap.
    first = timer("rearmed", now + timedelta(seconds=1))
    again = timer("rearmed", now + timedelta(seconds=1.9 if rearm == "later" else 1))
    bus = OneFireGate(env.bus, f"rearmed@{first.fire_at.isoformat()}", fail=outcome == "failed")
    svc = await env.start_service(bus=bus)
    await env.publish(first)
    await until(svc, lambda: "rearmed" in svc.heap)
    await advance(env, svc, timedelta(seconds=1))
    async with asyncio.timeout(DEADLINE):
        await bus.holding.wait()
    await env.publish(again)
    await until(svc, lambda: svc.received == 2)
    bus._held = "nothing"  # a retry of the held fire goes through
    bus.release.set()
    await until(svc, lambda: not svc._firing.publishing)
    if outcome == "failed":
        await advance(env, svc, svc._settings.publish_backoff_max_seconds)  # past the retry backoff
    if env.clock.now() < again.fire_at:
        await advance(env, svc, again.fire_at - env.clock.now())
    expected = {
        ("later", "confirmed"): [first.fire_at, again.fire_at],
        ("later", "failed"): [again.fire_at],
        ("same", "confirmed"): [first.fire_at],
        ("same", "failed"): [first.fire_at],
    }[rearm, outcome]
    await env.history[0].wait_for(len(expected))
    await until(svc, lambda: len(svc.heap) == 0 and svc.idle())
    assert [d.message_id for d in env.history[0].items] == [f"rearmed@{t.isoformat()}" for t in expected]
    assert svc.fired == len(expected)


async def test_fires_in_flight_when_the_connection_drops_are_all_delivered(
    env: Env, request: pytest.FixtureRequest
) -> None:
    """The timer service's connection to the broker cut (the broker stays up) while fires are
    being published, one of them held unconfirmed: every timer's fire still reaches history, at
    least once (repeats are history's to discard). Real RabbitMQ only: the embedded bus has no
    connection to lose."""
    if not isinstance(env.bus, AmqpBus):
        pytest.skip("the in-memory bus has no connection to cut")
    proxy, url = await Proxy.before(request.getfixturevalue("fresh_vhost_amqp_url"))
    inner = AmqpBus(url, connection_name="tidal-test-timer-proxied")
    await inner.connect()
    try:
        now = env.clock.now()
        timers = [timer(f"cut-{i}", now - timedelta(seconds=1), shard=i % SHARDS) for i in range(200)]
        await env.insert_rows(*timers)  # due already: the service fires them as it loads them
        bus = OneFireGate(inner, f"cut-100@{timers[100].fire_at.isoformat()}", fail=False)
        svc = await env.start_service(bus=bus, publish_batch_max=10)
        async with asyncio.timeout(DEADLINE):
            await bus.holding.wait()
        proxy.cut()  # with cut-100's publish held and others in flight
        bus.release.set()
        async with asyncio.timeout(60):  # a reconnect on a loaded box
            while True:
                fired = {FireTimer.model_validate_json(d.body).key for c in env.history for d in c.items}
                if fired >= {s.key for s in timers}:
                    break
                # The failed publishes retry after a backoff on the service's (fake) clock.
                env.clock.advance(timedelta(seconds=svc._settings.publish_backoff_max_seconds))
                await asyncio.sleep(0.05)  # polling the collectors, with the deadline above
        await until(svc, lambda: len(svc.heap) == 0)
    finally:
        for svc in list(env.services):
            await env.stop_service(svc)
        await inner.close()
        await proxy.stop()
