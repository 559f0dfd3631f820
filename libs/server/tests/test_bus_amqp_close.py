"""AmqpBus: no frame on a channel whose close has begun. A frame behind a channel.close (ours or
the broker's) reaches a broker that has freed the number; its 504 CHANNEL_ERROR closes the whole
connection: every consumer's deliveries requeued, every publish in flight failed, a reconnect."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tidal_server.bus import DLX_EXCHANGE, AmqpBus, Delivery, OutMessage, QueueSpec

DEADLINE = 30.0


@pytest.fixture
async def bus(amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = AmqpBus(amqp_url, connection_name="tidal-test-bus-close")
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


def observe_methods(bus: AmqpBus, callback: Callable[[int, int, int], None]) -> Callable[[], None]:
    """Call `callback(channel, class_id, method_id)` for every method frame as it goes to the
    connection's writer (the client's own write path, observed; nothing about the broker is
    faked). Returns undo."""
    assert bus._conn is not None and bus._conn.transport is not None
    queue = bus._conn.transport.connection.write_queue
    put_nowait = queue.put_nowait  # Queue.put calls put_nowait when there is room

    def seen(frame: Any) -> None:
        payload = getattr(frame, "payload", b"")
        offset = 0
        while offset + 11 <= len(payload):
            kind, number, size = struct.unpack_from(">BHI", payload, offset)
            if kind == 1:
                callback(number, *struct.unpack_from(">HH", payload, offset + 7))
            offset += 7 + size + 1

    def put_nowait_seen(frame: Any) -> None:
        seen(frame)
        put_nowait(frame)

    queue.put_nowait = put_nowait_seen  # type: ignore[method-assign]

    def undo() -> None:
        queue.put_nowait = put_nowait  # type: ignore[method-assign]

    return undo


class CloseCount:
    """Channel.close frames written per channel number since its last channel.open: a second one
    is a frame on a channel whose close has begun."""

    def __init__(self) -> None:
        self.open: dict[int, int] = {}
        self.repeated: list[int] = []

    def __call__(self, number: int, class_id: int, method_id: int) -> None:
        if (class_id, method_id) == (20, 10):
            self.open[number] = 0
        elif (class_id, method_id) == (20, 40):
            self.open[number] = self.open.get(number, 0) + 1
            if self.open[number] > 1:
                self.repeated.append(number)


async def test_a_dead_letter_cancelled_with_its_consumer_keeps_the_connection(bus: AmqpBus) -> None:
    """A handler dead-letters while its consumer is being cancelled: closing a consumer channel
    cancels the handler tasks still running on it (aiormq), here in the middle of the dead
    letter's probe of the DLX (a throwaway channel's close). A cancelled Channel.Close RPC made
    aiormq send a second channel.close, which the broker answers by closing the connection (504
    CHANNEL_ERROR "expected 'channel.open'"). The message is not lost: unacked, it is requeued."""
    queue = f"test.amqp-dlcancel.{uuid.uuid4().hex[:10]}"
    tap = f"{queue}.dlq-tap"
    await bus.declare_queue(QueueSpec(name=queue))
    await bus.declare_queue(QueueSpec(name=tap, bindings=[(DLX_EXCHANGE, "")], dead_letter=False))
    assert bus._conn is not None and bus._conn.transport is not None
    before = bus._conn.transport.connection
    handler_task: asyncio.Task[Any] | None = None
    consumer_channel: list[int] = []
    cancelled: list[int] = []

    async def handler(d: Delivery) -> None:
        nonlocal handler_task
        handler_task = asyncio.current_task()
        raw = await consumer._channel.get_underlay_channel()
        consumer_channel.append(raw.number)
        raise ValueError("poison")  # not transient: dead-lettered

    closes = CloseCount()

    def cancel_handler(number: int, class_id: int, method_id: int) -> None:
        closes(number, class_id, method_id)
        if (class_id, method_id) != (20, 40):
            return
        # The probe's channel.close is on its way: once the broker's close-ok is in (the broker
        # freed the number), before the channel's reader took it, cancel the handler as its
        # consumer's channel close would.
        if handler_task is None or number in consumer_channel:
            return
        channel = before.channels[number]
        loop = asyncio.get_running_loop()

        def when_waiting() -> None:
            assert handler_task is not None
            if handler_task.done() or channel.is_closed:
                return
            if channel.frames.empty():
                loop.call_soon(when_waiting)
                return
            cancelled.append(number)
            handler_task.cancel()

        loop.call_soon(when_waiting)

    bus._exchanges.discard(DLX_EXCHANGE)  # as on a fresh bus: the first dead letter probes it
    undo = observe_methods(bus, cancel_handler)
    try:
        consumer = await bus.consume(queue, handler)
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"poison"))
        async with asyncio.timeout(DEADLINE):
            while handler_task is None or not handler_task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        undo()
        await consumer.cancel()
        # The connection is the same one, open, and the bus works on it.
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
        assert closes.repeated == []
        assert bus._conn.transport is not None and bus._conn.transport.connection is before
        assert not before.is_closed
        # Nothing lost: the poison message is back in its queue (unacked, requeued) or in the DLQ.
        assert cancelled, "the handler was not cancelled during the probe's close"
        assert await bus.queue_depth(queue) + await bus.queue_depth(tap) == 2
    finally:
        undo()
        await bus.delete_queue(queue)
        await bus.delete_queue(tap)


async def test_publishes_after_the_brokers_channel_close_are_never_written(bus: AmqpBus) -> None:
    """The broker closes the publishing channel (a publish to an exchange deleted behind the bus's
    cache of known exchanges: 404). aiormq writes close-ok at once but marks the channel closed
    only turns later; a publish written in between follows the close-ok onto a freed number (504
    CHANNEL_ERROR, the whole connection closed). Such a publish fails with the channel instead."""
    exchange = f"test.amqp-gone.{uuid.uuid4().hex[:10]}"
    await bus.declare_exchange(exchange, "fanout")
    await bus.publish(OutMessage(exchange=exchange, routing_key="", body=b"known", mandatory=False))
    async with bus._raw_channel() as ch:
        await ch.exchange_delete(exchange)
    assert bus._conn is not None and bus._conn.transport is not None
    before = bus._conn.transport.connection
    pub = bus._publisher
    assert pub is not None
    closes = CloseCount()
    written_after_close_ok: list[int] = []
    close_ok_sent: set[int] = set()

    def watch(number: int, class_id: int, method_id: int) -> None:
        closes(number, class_id, method_id)
        if (class_id, method_id) == (20, 41):
            close_ok_sent.add(number)
        elif number in close_ok_sent and (class_id, method_id) != (20, 10):
            written_after_close_ok.append(number)

    undo = observe_methods(bus, watch)
    confirms: list[asyncio.Future[Any]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while not pub.channel.is_closed:  # one publish a turn until the close is seen
                try:
                    confirms.append(
                        pub.publish(
                            exchange=exchange,
                            routing_key="",
                            body=b"x",
                            mandatory=False,
                            headers=None,
                            message_id=None,
                            correlation_id=None,
                            reply_to=None,
                            priority=None,
                            content_type=None,
                        )
                    )
                except Exception:
                    break
                await asyncio.sleep(0)
        undo()
        results = await asyncio.gather(*confirms, return_exceptions=True)
        assert all(isinstance(r, BaseException) for r in results)  # none reported confirmed
        assert written_after_close_ok == []
        await bus.declare_queue(QueueSpec(name=f"{exchange}.q", auto_delete=True, durable=False))
        assert bus._conn.transport is not None and bus._conn.transport.connection is before
        assert not before.is_closed
    finally:
        undo()
