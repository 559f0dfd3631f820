"""One suite, both buses (the `env` fixture in conftest.py): consuming and settling: dead letters,
requeues, prefetch, cancel, cumulative acks, exclusive and single-active consumers.
"""

from __future__ import annotations

import asyncio

import pytest
from tidal_server.bus import (
    DLQ_QUEUE,
    H_DL_EXCHANGE,
    H_DL_QUEUE,
    H_DL_REASON,
    H_DL_ROUTING_KEY,
    BusClosedError,
    Delivery,
    ExclusiveConsumerError,
    Handler,
    ack_all,
)

from .conftest import DEADLINE, Collector, Env, msg


async def test_handler_error_dead_letters_and_consumer_goes_on(env: Env) -> None:
    tap = await env.dlq_tap()
    ex = await env.exchange()
    q = await env.queue((ex, "rk"))
    ok: list[bytes] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        if d.body == b"bad":
            raise ValueError("boom")
        ok.append(d.body)
        await d.ack()
        done.set()

    await env.bus.consume(q, handler)
    await env.bus.publish_many([msg(ex, "rk", b"bad", headers={"keep": "me"}), msg(ex, "rk", b"good")])
    (dead,) = await tap.wait_for(1)
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert ok == [b"good"] and dead.body == b"bad"
    assert dead.headers[H_DL_REASON] == "ValueError: boom"
    assert (dead.headers[H_DL_QUEUE], dead.headers[H_DL_EXCHANGE]) == (q, ex)
    assert (dead.headers[H_DL_ROUTING_KEY], dead.headers["keep"]) == ("rk", "me")
    assert await env.bus.queue_depth(q) == 0


async def test_explicit_dead_letter_and_reject(env: Env) -> None:
    tap = await env.dlq_tap()
    q = await env.queue()
    dropped = await env.queue(dead_letter=False)

    async def handler(d: Delivery) -> None:
        if d.body == b"dl":
            await d.dead_letter("operator look")
        else:
            await d.nack(requeue=False)
        await d.ack()  # settling twice is a no-op

    for name in (q, dropped):
        await env.bus.consume(name, handler)
    await env.bus.publish_many([msg("", dropped, b"dl"), msg("", dropped, b"rej")])
    await env.bus.publish_many([msg("", q, b"dl"), msg("", q, b"rej")])
    got = await tap.wait_for(2)
    # Only the dead_letter=True queue's messages arrive (they were published last, after the others).
    assert sorted(d.body for d in got) == [b"dl", b"rej"]
    assert {d.headers.get(H_DL_REASON) for d in got} == {"operator look", None}
    assert DLQ_QUEUE == "tidal.dead-letter"


async def test_nack_requeue_redelivers(env: Env) -> None:
    q = await env.queue()
    seen: list[bool] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d.redelivered)
        if d.redelivered:
            await d.ack()
            done.set()
        else:
            await d.nack(requeue=True)

    await env.bus.consume(q, handler)
    await env.bus.publish(msg("", q))
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert seen == [False, True]


async def test_prefetch_bounds_unsettled(env: Env) -> None:
    q = await env.queue()
    await env.bus.publish_many([msg("", q, str(i).encode()) for i in range(10)])
    got = Collector(ack=False)
    await env.bus.consume(q, got, prefetch=3)
    await got.wait_for(3)
    assert await env.bus.queue_depth(q) == 7  # the broker holds the rest back
    for d in list(got.items):
        await d.ack()
    await got.wait_for(6)
    assert await env.bus.queue_depth(q) == 4


async def test_cancel_requeues_unsettled(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=10)
    await env.bus.publish_many([msg("", q, b"1"), msg("", q, b"2")])
    await first.wait_for(2)
    await consumer.cancel()
    with pytest.raises(BusClosedError):
        await first.items[0].ack()
    second = Collector()
    await env.bus.consume(q, second)
    again = await second.wait_for(2)
    assert sorted(d.body for d in again) == [b"1", b"2"] and all(d.redelivered for d in again)


async def test_ack_all_acks_the_group_and_nothing_outside_it(env: Env) -> None:
    """ack_all may use one cumulative ack (RabbitMQ's multiple=True): a delivery outside the group,
    below, between or above its tags, must stay unacked and come back after a cancel."""
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(8)])
    got = await first.wait_for(8)
    by_body = {d.body: d for d in got}
    await ack_all([by_body[b"1"], by_body[b"2"]])  # 0 below is held
    await by_body[b"0"].nack(requeue=True)  # settled on its own, then the rest covers it
    await ack_all([by_body[b"3"], by_body[b"5"]])  # 4 between is held
    await ack_all([by_body[b"6"], by_body[b"6"]])  # 7 above is held; a duplicate is one ack
    assert all(by_body[b].settled for b in (b"1", b"2", b"3", b"5", b"6"))
    await consumer.cancel()
    second = Collector()
    await env.bus.consume(q, second)
    again = await second.wait_for(3)
    assert sorted(d.body for d in again) == [b"0", b"4", b"7"]
    await asyncio.sleep(0.2)  # nothing else comes back
    assert len(second.items) == 3


async def test_ack_all_of_a_whole_prefix_settles_everything(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(5)])
    got = await first.wait_for(5)
    await got[0].ack()
    await ack_all(got)  # the settled one is skipped
    await consumer.cancel()
    second = Collector()
    await env.bus.consume(q, second)
    await env.bus.publish(msg("", q, b"after"))
    assert [d.body for d in await second.wait_for(1)] == [b"after"]


async def test_ack_all_after_cancel_raises_closed(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(3)])
    got = await first.wait_for(3)
    await consumer.cancel()
    with pytest.raises(BusClosedError):  # the broker requeued them; the tags are void
        await ack_all(got)


async def test_exclusive_consume(env: Env) -> None:
    q = await env.queue()
    got = Collector()
    owner = await env.bus.consume(q, got, exclusive=True)
    with pytest.raises(ExclusiveConsumerError):
        await env.bus.consume(q, Collector(), exclusive=True)
    with pytest.raises(ExclusiveConsumerError):
        await env.bus.consume(q, Collector())
    await env.bus.publish(msg("", q, b"still mine"))
    assert [d.body for d in await got.wait_for(1)] == [b"still mine"]
    await owner.cancel()
    other = Collector()
    await env.bus.consume(q, other, exclusive=True)
    await env.bus.publish(msg("", q, b"next owner"))
    assert [d.body for d in await other.wait_for(1)] == [b"next owner"]


async def test_round_robin_and_single_active_consumer(env: Env) -> None:
    shared, sac = await env.queue(), await env.queue(single_active_consumer=True)
    both, per_consumer = Collector(), {"a": 0, "b": 0}

    def counting(tag: str) -> Handler:
        async def handler(d: Delivery) -> None:
            per_consumer[tag] += 1
            await both(d)

        return handler

    c, d = Collector(), Collector()
    await env.bus.consume(shared, counting("a"), prefetch=1)
    await env.bus.consume(shared, counting("b"), prefetch=1)
    c_consumer = await env.bus.consume(sac, c)
    await env.bus.consume(sac, d)
    await env.bus.publish_many([msg("", shared, b"x") for _ in range(10)])
    await env.bus.publish_many([msg("", sac, b"y") for _ in range(5)])
    await both.wait_for(10)
    assert per_consumer["a"] and per_consumer["b"]
    await c.wait_for(5)
    await c_consumer.cancel()
    await env.bus.publish(msg("", sac, b"z"))
    assert [x.body for x in await d.wait_for(1)] == [b"z"]
    assert len(c.items) == 5


async def test_cancel_stops_in_flight_handlers(env: Env) -> None:
    q = await env.queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow(d: Delivery) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes on its own
        except asyncio.CancelledError:
            stopped.set()
            raise

    consumer = await env.bus.consume(q, slow)
    await env.bus.publish(msg("", q))
    await asyncio.wait_for(started.wait(), DEADLINE)
    await consumer.cancel()
    await asyncio.wait_for(stopped.wait(), DEADLINE)
    assert await env.bus.queue_depth(q) == 1  # requeued
