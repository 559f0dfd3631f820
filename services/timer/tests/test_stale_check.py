"""The timer service's stale check on both buses (the `env` fixture in conftest.py): a due timer
whose row is gone (what it was set for is done) is not fired, and the lookup never holds a fire
back.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal_schema.messages import FireTimer

from .conftest import (
    DEADLINE,
    Env,
    GatedLookup,
    advance,
    parked_until,
    timer,
    until,
)


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
