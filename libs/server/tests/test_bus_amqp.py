"""AmqpBus-only behaviour: what happens when the connection drops (the in-memory bus cannot lose it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tidal_server.bus import (
    AmqpBus,
    BusClosedError,
    ConnectionLostError,
    Delivery,
    OutMessage,
    QueueSpec,
    UnroutableError,
    ack_all,
)

from tests.support.tcp_proxy import Proxy

DEADLINE = 30.0


@pytest.fixture
async def proxied(amqp_url: str) -> AsyncIterator[tuple[AmqpBus, Proxy]]:
    proxy, proxied_url = await Proxy.before(amqp_url)
    bus = AmqpBus(proxied_url, connection_name="tidal-test-bus-amqp")
    await bus.connect()
    try:
        yield bus, proxy
    finally:
        await bus.close()
        await proxy.stop()


async def test_connection_loss_requeues_and_recovers(proxied: tuple[AmqpBus, Proxy]) -> None:
    bus, proxy = proxied
    queue = f"test.amqp-loss.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        if d.redelivered:
            await d.ack()
        changed.set()

    async def wait_for(n: int) -> None:
        async with asyncio.timeout(DEADLINE):
            while len(seen) < n:
                changed.clear()
                await changed.wait()

    async def replier(d: Delivery) -> None:
        assert d.reply_to
        await bus.publish(
            OutMessage(exchange="", routing_key=d.reply_to, body=d.body, correlation_id=d.correlation_id)
        )
        await d.ack()

    rpc = f"test.amqp-loss-rpc.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=rpc))
    try:
        await bus.consume(rpc, replier)
        assert (
            await bus.request(OutMessage(exchange="", routing_key=rpc, body=b"1"), timeout=DEADLINE)
        ).body == b"1"
        await bus.consume(queue, handler, prefetch=10)
        await bus.publish_many([OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(2)])
        await wait_for(2)
        proxy.cut()
        await wait_for(4)  # the robust connection re-consumed; the broker redelivered both
        assert [d.redelivered for d in seen] == [False, False, True, True]
        assert sorted(d.body for d in seen[2:]) == [b"0", b"1"]
        with pytest.raises(BusClosedError):  # the old delivery tags died with the old channel
            await seen[0].ack()
        # Publishing and request/reply work on the new connection.
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
        await wait_for(5)
        assert seen[4].body == b"after"
        reply = await bus.request(OutMessage(exchange="", routing_key=rpc, body=b"2"), timeout=DEADLINE)
        assert reply.body == b"2"
    finally:
        await bus.delete_queue(queue)
        await bus.delete_queue(rpc)


async def test_ack_all_sends_one_cumulative_ack_when_nothing_below_is_unsettled(
    proxied: tuple[AmqpBus, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One basic.ack(multiple=True) for a group with nothing unsettled below it, one ack each
    otherwise; after a reconnect the new channel's tags start at 1 again and it still works."""
    from tidal_server.bus import _amqp_delivery

    bus, proxy = proxied
    frames: list[tuple[int, bool]] = []
    real = _amqp_delivery.ack_frame

    def counting(channel: int, tag: int, *, multiple: bool) -> bytes:
        frames.append((tag, multiple))
        return real(channel, tag, multiple=multiple)

    monkeypatch.setattr(_amqp_delivery, "ack_frame", counting)
    queue = f"test.amqp-ackall.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        changed.set()

    async def wait_until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not done():
                changed.clear()
                await changed.wait()

    async def wait_for(n: int) -> None:
        await wait_until(lambda: len(seen) >= n)

    try:
        await bus.consume(queue, handler, prefetch=20)
        await bus.publish_many([OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(6)])
        await wait_for(6)
        await ack_all(seen[:4])
        assert frames == [(4, True)]
        frames.clear()
        await ack_all([seen[5]])  # 4 (tag 5) is unsettled below it: a single ack
        assert frames == [(6, False)]
        proxy.cut()  # the unsettled tag 5 is requeued; the robust connection consumes again
        await wait_for(7)
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b"x%d" % i) for i in range(2)]
        )
        await wait_until(lambda: b"x1" in [d.body for d in seen])
        await asyncio.sleep(0.2)
        # An ack written just before the cut may not have reached the broker (its message comes
        # back too, as AMQP allows); the unsettled one always does.
        again = seen[6:]
        assert b"4" in [d.body for d in again if d.redelivered]
        frames.clear()
        await ack_all(again)  # the new channel's tags 1..n
        assert frames == [(len(again), True)]
        await asyncio.sleep(0.2)
        assert await bus.queue_depth(queue) == 0 and len(seen) == 6 + len(again)
    finally:
        await bus.delete_queue(queue)


# --- the lean publishing path (tidal_amqp.channel_writer): many publishes of one turn, one write -------


@pytest.fixture
async def direct(amqp_url: str) -> AsyncIterator[AmqpBus]:
    """A second bus straight on the broker: it sees the queues while the proxied one is cut."""
    bus = AmqpBus(amqp_url, connection_name="tidal-test-bus-direct")
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


async def poll(done: Callable[[], Any]) -> None:
    """Poll a broker-side figure (no event tells us) with a deadline."""
    async with asyncio.timeout(DEADLINE):
        while not await done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_a_return_fails_exactly_its_publish_among_coalesced_ones(direct: AmqpBus) -> None:
    """Twenty publishes made in one turn go out in one write; the one unroutable mandatory
    publish among them fails with UnroutableError, and only it."""
    bus = direct
    queue = f"test.amqp-return.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    try:
        messages = [
            OutMessage(exchange="", routing_key=queue if i != 7 else f"{queue}.nobody", body=b"%d" % i)
            for i in range(20)
        ]
        results = await asyncio.gather(*(bus.publish(m) for m in messages), return_exceptions=True)
        assert [i for i, r in enumerate(results) if r is not None] == [7]
        assert isinstance(results[7], UnroutableError)
        with pytest.raises(UnroutableError):  # publish_many raises it too, after the others
            await bus.publish_many(messages)
        await poll(lambda: _depth_is(bus, queue, 38))
    finally:
        await bus.delete_queue(queue)


async def _depth_is(bus: AmqpBus, queue: str, n: int) -> bool:
    return await bus.queue_depth(queue) == n


async def test_bodies_around_frame_max_arrive_intact(direct: AmqpBus) -> None:
    """Bodies split into content frames at the negotiated frame size (just under, at, just over
    it, several frames, empty, NUL bytes) arrive byte for byte, published in one write."""
    bus = direct
    queue = f"test.amqp-frames.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    pub = bus._pub
    assert pub is not None
    step = (await pub.get_underlay_channel()).max_content_size
    sizes = [0, 1, step - 1, step, step + 1, 3 * step + 5]
    bodies = {f"b{n}": bytes((i * 7 + n) % 256 for i in range(n)).replace(b"\x01", b"\x00") for n in sizes}
    got: dict[str, bytes] = {}
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        got[d.message_id or ""] = d.body
        await d.ack()
        changed.set()

    try:
        await bus.consume(queue, handler)
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b, message_id=k) for k, b in bodies.items()]
        )
        async with asyncio.timeout(DEADLINE):
            while len(got) < len(bodies):
                changed.clear()
                await changed.wait()
        assert got == bodies
    finally:
        await bus.delete_queue(queue)


async def test_confirms_lost_with_the_connection_fail_every_publish_in_flight(
    proxied: tuple[AmqpBus, Proxy], direct: AmqpBus
) -> None:
    """The broker has the messages but its acks never come back before the connection dies:
    every publish of the batch fails (none is reported confirmed), and publishing works again
    on the new connection."""
    bus, proxy = proxied
    queue = f"test.amqp-noconfirm.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    try:
        proxy.drop_replies = True
        batch = asyncio.create_task(
            bus.publish_many([OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(50)])
        )
        single = [
            asyncio.create_task(bus.publish(OutMessage(exchange="", routing_key=queue, body=b"s%d" % i)))
            for i in range(5)
        ]
        await poll(lambda: _depth_is(direct, queue, 55))
        assert not batch.done() and not any(t.done() for t in single)
        proxy.drop_replies = False
        proxy.cut()
        with pytest.raises((ConnectionLostError, BusClosedError)):
            await batch
        for t in single:
            with pytest.raises((ConnectionLostError, BusClosedError)):
                await t
        async with asyncio.timeout(DEADLINE):  # the robust connection comes back
            await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
        await poll(lambda: _depth_is(direct, queue, 56))
    finally:
        await direct.delete_queue(queue)


async def test_a_cut_mid_batch_reports_confirmed_only_what_the_broker_holds(
    proxied: tuple[AmqpBus, Proxy], direct: AmqpBus
) -> None:
    """Windows of 100 coalesced publishes, the connection cut once some are confirmed: each
    publish either succeeded or failed with a connection error, and every one that succeeded
    is in the queue."""
    bus, proxy = proxied
    queue = f"test.amqp-midcut.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    ok: list[bytes] = []
    failed: list[BaseException] = []

    async def one(m: OutMessage) -> None:
        try:
            await bus.publish(m)
        except (ConnectionLostError, BusClosedError) as exc:
            failed.append(exc)
        else:
            ok.append(m.body)

    async def windows() -> None:
        for w in range(20):
            await asyncio.gather(
                *(one(OutMessage(exchange="", routing_key=queue, body=b"%d.%d" % (w, i))) for i in range(100))
            )

    try:
        task = asyncio.create_task(windows())
        async with asyncio.timeout(DEADLINE):
            while len(ok) < 150:  # noqa: ASYNC110 (no event: yield until some are confirmed)
                await asyncio.sleep(0)
        proxy.cut()
        async with asyncio.timeout(DEADLINE):
            await task
        assert failed, "the cut failed no publish: it came too late to test anything"
        assert len(ok) + len(failed) == 2000
        held: set[bytes] = set()
        while (m := await _get(direct, queue)) is not None:
            held.add(m)
        assert set(ok) <= held
    finally:
        await direct.delete_queue(queue)


async def _get(bus: AmqpBus, queue: str) -> bytes | None:
    async with bus._raw_channel() as ch:
        m = await ch.basic_get(queue, no_ack=True)
        return m.body if m.delivery is not None and m.delivery.name == "Basic.GetOk" else None


async def test_acks_given_just_before_cancel_reach_the_broker(direct: AmqpBus) -> None:
    """Acks are buffered for the turn's one write; cancelling the consumer in the same turn must
    still get them to the broker before channel.close, or it requeues acked messages. After the
    first delivery the raw channel's consumer is the lean path (on_raw), not aio-pika's."""
    from tidal_server.bus._amqp_consumer import AmqpConsumer

    bus = direct
    queue = f"test.amqp-ackclose.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        changed.set()

    try:
        consumer = await bus.consume(queue, handler, prefetch=50)
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(30)]
        )
        async with asyncio.timeout(DEADLINE):
            while len(seen) < 30:
                changed.clear()
                await changed.wait()
        raw = await consumer._channel.get_underlay_channel()
        assert [getattr(cb, "__func__", None) for cb in raw.consumers.values()] == [AmqpConsumer.on_raw]
        for d in seen:
            await d.ack()
        await consumer.cancel()
        assert await bus.queue_depth(queue) == 0
    finally:
        await bus.delete_queue(queue)


@pytest.mark.parametrize("turns", [1, 2, 3, 5])
async def test_a_request_cancelled_while_the_reply_consumer_starts_leaves_the_publishing_channel_open(
    direct: AmqpBus, turns: int
) -> None:
    """A request cancelled (its caller's timeout) while the direct reply-to consumer is being set
    up cancelled aiormq's basic.consume RPC, which closes its channel: the publishing channel,
    failing every publish in flight on it (the flaky teardown CHANNEL_ERROR of
    test_a_request_cancelled_as_its_reply_arrives_is_cancelled)."""
    bus = direct
    queue = f"test.amqp-reqcancel.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    pub = bus._pub
    assert pub is not None
    before = await pub.get_underlay_channel()
    try:
        requester = asyncio.create_task(
            bus.request(OutMessage(exchange="", routing_key=queue, body=b"q"), timeout=DEADLINE)
        )
        for _ in range(turns):  # somewhere in here the requester waits for basic.consume-ok
            await asyncio.sleep(0)
        requester.cancel()
        with pytest.raises(asyncio.CancelledError):
            await requester
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(10)]
        )
        assert not before.is_closed
        assert await pub.get_underlay_channel() is before
    finally:
        await bus.delete_queue(queue)


@pytest.mark.parametrize("turns", list(range(0, 60, 2)))
async def test_an_ack_during_the_consumers_cancel_never_follows_its_channel_close(
    direct: AmqpBus, turns: int
) -> None:
    """A handler acks while its consumer is being cancelled: an ack frame written behind the
    channel.close reaches a broker that has freed the channel number, and its 504 CHANNEL_ERROR
    closes the whole connection (every consumer and publish on it)."""
    bus = direct
    queue = f"test.amqp-ackcancel.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        changed.set()

    conn = bus._conn
    assert conn is not None and conn.transport is not None
    before = conn.transport.connection
    try:
        consumer = await bus.consume(queue, handler, prefetch=50)
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(20)]
        )
        async with asyncio.timeout(DEADLINE):
            while len(seen) < 20:
                changed.clear()
                await changed.wait()
        cancel = asyncio.create_task(consumer.cancel())
        for _ in range(turns):
            await asyncio.sleep(0)
        for d in seen:
            with contextlib.suppress(BusClosedError):
                await d.ack()
        await cancel
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
        assert await bus.queue_depth(queue) >= 1
        assert conn.transport is not None and conn.transport.connection is before
        assert not before.is_closed
    finally:
        await bus.delete_queue(queue)
