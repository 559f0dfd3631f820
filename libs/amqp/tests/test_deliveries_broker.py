"""Deliveries assembled by the router under the chunked reader, against a real RabbitMQ: whole and
in order at every body size around frame_max; a connection cut in the middle of a delivery's
frames hands nothing over, and the broker's redelivery after the robust reconnect arrives whole;
a frame out of place mid-delivery fails the channel as aiormq's own reader does."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec
from tidal_amqp.consume import LeanConnection, LeanConsumer
from tidal_amqp.deliveries import DeliveryRouter, route_deliveries
from tidal_amqp.reader import FrameReader, install

from tests.support.polling import until
from tests.support.tcp_proxy import Proxy

DEADLINE = 60.0


async def _until(done: Callable[[], bool]) -> None:
    await until(done, what="the deliveries", deadline=DEADLINE, interval=0.01)


def _consumer(on_raw: Callable[[DeliveredMessage], Awaitable[None]]) -> LeanConsumer:
    async def on_incoming(message: AbstractIncomingMessage) -> None:
        raise AssertionError(f"delivered through aio-pika's message, not the lean path: {message!r}")

    return LeanConsumer(on_raw=on_raw, on_incoming=on_incoming)


async def _publish(url: str, queue: str, bodies: list[tuple[str, bytes]]) -> None:
    conn = await aio_pika.connect(url)
    try:
        ch = await conn.channel(publisher_confirms=True)
        for mid, body in bodies:
            await ch.default_exchange.publish(aio_pika.Message(body, message_id=mid), routing_key=queue)
    finally:
        await conn.close()


async def test_deliveries_arrive_whole_and_in_order_at_every_size_around_frame_max(
    fresh_vhost_amqp_url: str,
) -> None:
    install()
    conn = await aio_pika.connect_robust(fresh_vhost_amqp_url, connection_class=LeanConnection)
    try:
        ch = await conn.channel()
        await ch.set_qos(prefetch_count=50)
        queue = await ch.declare_queue(f"test.router.{uuid.uuid4().hex[:8]}", durable=True)
        raw = await ch.get_underlay_channel()
        step = raw.max_content_size
        sizes = [0, 1, step - 1, step, step + 1, 3 * step + 5]
        bodies = [
            (f"m{i}", bytes((j * 7 + i) % 256 for j in range(n)).replace(b"\x01", b"\x00"))
            for i, n in enumerate(sizes * 4)
        ]
        bodies.append(("nul", b"\x00" * (step + 3)))
        got: list[tuple[str | None, bytes]] = []

        async def on_raw(message: DeliveredMessage) -> None:
            got.append((message.header.properties.message_id, message.body))
            await message.channel.basic_ack(message.delivery_tag)  # type: ignore[arg-type]

        await queue.consume(_consumer(on_raw))
        assert isinstance(raw.frames, DeliveryRouter)
        await _publish(fresh_vhost_amqp_url, queue.name, bodies)
        await _until(lambda: len(got) == len(bodies))
        assert got == bodies
    finally:
        await conn.close()


async def test_a_connection_cut_mid_delivery_hands_nothing_over_and_the_redelivery_arrives_whole(
    fresh_vhost_amqp_url: str,
) -> None:
    install()
    proxy, url = await Proxy.before(fresh_vhost_amqp_url)
    conn = await aio_pika.connect_robust(url, connection_class=LeanConnection, reconnect_interval=0.2)
    try:
        ch = await conn.channel()
        await ch.set_qos(prefetch_count=10)
        queue = await ch.declare_queue(f"test.router-cut.{uuid.uuid4().hex[:8]}", durable=True)
        raw = await ch.get_underlay_channel()
        step = raw.max_content_size
        body = bytes(range(256)) * ((3 * step) // 256) + b"tail"
        await _publish(fresh_vhost_amqp_url, queue.name, [("big", body)])
        got: list[tuple[bytes, bool]] = []

        async def on_raw(message: DeliveredMessage) -> None:
            got.append((message.body, bool(message.redelivered)))
            await message.channel.basic_ack(message.delivery_tag)  # type: ignore[arg-type]

        # The consume-ok, the basic.deliver, its content header and part of its first body
        # frame reach the client; then the connection is cut in the middle of that frame.
        proxy.cut_after = step // 2
        await queue.consume(_consumer(on_raw))
        await _until(lambda: len(got) == 1)
        assert got == [(body, True)]  # only the redelivery, whole
        assert raw.is_closed  # it came on the channel of the new connection
    finally:
        await conn.close()
        await proxy.stop()


async def test_a_frame_out_of_place_mid_delivery_fails_the_channel_as_aiormq_does(
    fresh_vhost_amqp_url: str,
) -> None:
    install()
    conn = await aiormq.connect(fresh_vhost_amqp_url)
    try:
        raw = await conn.channel()
        declared = await raw.queue_declare(f"test.router-bad.{uuid.uuid4().hex[:8]}", exclusive=True)
        assert declared.queue is not None
        route_deliveries(raw)
        got: list[Any] = []

        async def on_raw(message: DeliveredMessage) -> None:
            got.append(message)

        ok = await raw.basic_consume(declared.queue, on_raw)
        router = raw.frames
        assert isinstance(router, DeliveryRouter)
        deliver = spec.Basic.Deliver(
            consumer_tag=ok.consumer_tag, delivery_tag=1, exchange="", routing_key="q"
        )
        await router.put((0, deliver))
        await router.put((0, spec.Basic.Qos()))  # where the content header belongs
        await _until(lambda: raw.is_closed)
        assert got == []
    finally:
        await conn.close()


def test_install_makes_aiormq_build_the_chunked_reader() -> None:
    import aiormq.connection

    install()
    assert aiormq.connection.FrameReceiver is FrameReader
