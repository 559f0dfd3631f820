"""The timer service on both buses (the `env` fixture in conftest.py): ScheduleTimer and CancelTimer
messages, firing, publish failures and fires in flight. Table reads: test_table_reads.py; stale
fires: test_stale_check.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from tidal_schema import names
from tidal_schema.messages import CancelTimer, FireTimer, ScheduleTimers
from tidal_server.bus import (
    H_DL_REASON,
    AmqpBus,
    QueueSpec,
)

from tests.support.tcp_proxy import Proxy

from .conftest import (
    DEADLINE,
    SHARDS,
    Collector,
    Env,
    GatedBus,
    OneFireGate,
    advance,
    parked_until,
    sent,
    timer,
    until,
)


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
    assert FireTimer.model_validate_json(delivery.body) == sent(sched)
    assert delivery.routing_key == names.shard_routing_key(1)
    await until(svc, lambda: svc.fired == 1)
    assert "t1" not in svc.heap and svc.lateness == 0.0
    assert env.history[0].items == []


async def test_a_fire_goes_out_its_lead_before_due_carrying_the_due_time(env: Env) -> None:
    """With `fire_lead_seconds` the fire is sent that much ahead of its due time, never more, and
    carries `fire_at` so that history applies it no earlier (services/history/tests/
    test_early_fires.py)."""
    svc = await env.start_service(fire_lead_seconds=0.25)
    now = env.clock.now()
    sched = timer("t1", now + timedelta(seconds=1.5), shard=1)
    await env.publish(sched)
    # The loop sleeps until the due time minus the lead, not until the due time.
    await until(svc, lambda: parked_until(svc, "fire", sched.fire_at - timedelta(seconds=0.25)))

    await advance(env, svc, timedelta(seconds=1.249))
    assert svc.fired == 0 and env.history[1].items == []  # more than the lead ahead: not yet

    await advance(env, svc, timedelta(seconds=0.001))
    (delivery,) = await env.history[1].wait_for(1)
    fire = FireTimer.model_validate_json(delivery.body)
    assert fire == sent(sched) and fire.fire_at == sched.fire_at
    assert env.clock.now() == sched.fire_at - timedelta(seconds=0.25)
    await until(svc, lambda: svc.fired == 1)
    assert "t1" not in svc.heap and svc.lateness == 0.0


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
