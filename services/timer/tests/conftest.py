"""The timer service tests' shared plumbing, against both buses: InMemoryBus + SQLite (the
embedded mode) and AmqpBus on a fresh RabbitMQ vhost + a fresh Postgres database. Time is a
FakeClock; tests wait on conditions with deadlines (the service's `progress` event, or deliveries
arriving), never on sleeps. Used by test_service.py (messages and firing), test_table_reads.py
(the table reads, recovery and the sweep) and test_stale_check.py (fires of rows already gone).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import names
from tidal_schema.messages import CancelTimer, FireTimer, ScheduleTimer, TimerKind
from tidal_server.bus import (
    DLX_EXCHANGE,
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
            # Fires at their due time unless a test says otherwise: most tests here pin when a fire
            # goes out, and the lead (history holds an early fire) has tests of its own.
            TimerSettings(**{"fire_lead_seconds": 0.0, **settings}),
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


def sent(sched: ScheduleTimer) -> FireTimer:
    """The FireTimer the service publishes for `sched`: its fire, carrying the due time."""
    return sched.fire.model_copy(update={"fire_at": sched.fire_at})


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
