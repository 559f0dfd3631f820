"""Hostile bytes from the broker's side of the socket, against the chunked reader and the delivery
router on a real RabbitMQ: a proxy in front of the broker rewrites one frame of a delivery (an
unknown frame type, a frame end that is not 0xCE, a frame longer than frame_max, a body longer
than its header declared, a header declaring 2**63 bytes) or slips in a delivery on a channel no
consumer is on. The client must close the connection with an error naming the fault, promptly
(never wait for bytes a hostile size promises, never allocate them), hand nothing corrupt over,
and get the message whole from the broker's redelivery after its robust reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pamqp.frame
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import InvalidFrameError
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from tidal_amqp.consume import LeanConnection, LeanConsumer
from tidal_amqp.reader import MAX_BODY_SIZE, FrameReader, install

from tests.support.polling import until

DEADLINE = 60.0
BODY = b"the one message \x00 with a NUL"
_HEAD = struct.Struct(">BHI")

# (frame type, channel, whole frame) -> the bytes to send in its place, or None to pass it on.
Rewrite = Callable[[int, int, bytes], bytes | None]


class FrameProxy:
    """A TCP proxy that passes the broker's bytes on frame by frame, so that one frame can be
    swapped for hostile bytes; the first rewrite that answers is spent (the reconnect is clean)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.rewrite: Rewrite | None = None
        self.rewritten = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    @classmethod
    async def before(cls, amqp_url: str) -> tuple[FrameProxy, str]:
        url = urlsplit(amqp_url)
        proxy = cls(url.hostname or "127.0.0.1", url.port or 5672)
        proxy.server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
        port = int(proxy.server.sockets[0].getsockname()[1])
        return proxy, urlunsplit(url._replace(netloc=f"{url.username}:{url.password}@127.0.0.1:{port}"))

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(*self.target)
        self.writers |= {client_w, broker_w}

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await client_r.read(65536):
                    broker_w.write(data)
                    await broker_w.drain()
            broker_w.close()

        async def downstream() -> None:
            buf = b""
            with contextlib.suppress(ConnectionError):
                while data := await broker_r.read(65536):
                    buf += data
                    out = []
                    while len(buf) >= 7:
                        kind, channel, size = _HEAD.unpack_from(buf)
                        if len(buf) < 8 + size:
                            break
                        frame, buf = buf[: 8 + size], buf[8 + size :]
                        swapped = self.rewrite(kind, channel, frame) if self.rewrite else None
                        if swapped is not None:
                            self.rewrite = None
                            self.rewritten += 1
                        out.append(frame if swapped is None else swapped)
                    client_w.write(b"".join(out))
                    await client_w.drain()
            client_w.close()

        await asyncio.gather(upstream(), downstream())

    async def stop(self) -> None:
        for w in self.writers:
            w.transport.abort()
        if self.server is not None:
            self.server.close()


def _payload(frame: bytes) -> bytes:
    return frame[7:-1]


def _frame(kind: int, channel: int, payload: bytes, *, end: int = 0xCE) -> bytes:
    return _HEAD.pack(kind, channel, len(payload)) + payload + bytes([end])


def _with_body_size(frame: bytes, body_size: int) -> bytes:
    """A content header frame declaring `body_size` (class, weight, then the size: bytes 4..12)."""
    payload = _payload(frame)
    return _frame(2, _HEAD.unpack_from(frame)[1], payload[:4] + struct.pack(">Q", body_size) + payload[12:])


def _on_first(kind: int, change: Callable[[int, bytes], bytes]) -> Rewrite:
    def rewrite(k: int, channel: int, frame: bytes) -> bytes | None:
        return change(channel, frame) if k == kind and channel != 0 else None

    return rewrite


async def _consume_through(
    proxy: FrameProxy, url: str, broker_url: str
) -> tuple[list[tuple[bytes, bool]], aio_pika.abc.AbstractRobustConnection, object]:
    """A lean robust consumer through the proxy on a fresh durable queue holding BODY; returns
    what it was handed, the connection, and the first connection's raw channel."""
    conn = await aio_pika.connect_robust(url, connection_class=LeanConnection, reconnect_interval=0.2)
    ch = await conn.channel()
    queue = await ch.declare_queue(f"test.reader-attack.{uuid.uuid4().hex[:8]}", durable=True)
    raw = await ch.get_underlay_channel()
    got: list[tuple[bytes, bool]] = []

    async def on_raw(message: DeliveredMessage) -> None:
        got.append((message.body, bool(message.redelivered)))
        await message.channel.basic_ack(message.delivery_tag)  # type: ignore[arg-type]

    async def on_incoming(message: AbstractIncomingMessage) -> None:
        raise AssertionError(f"delivered through aio-pika's message, not the lean path: {message!r}")

    # Consuming first: the delivery then comes after the consume-ok, whatever the reader does.
    await queue.consume(LeanConsumer(on_raw=on_raw, on_incoming=on_incoming))
    publisher = await aio_pika.connect(broker_url)
    try:
        pch = await publisher.channel(publisher_confirms=True)
        await pch.default_exchange.publish(aio_pika.Message(BODY, message_id="m"), routing_key=queue.name)
    finally:
        await publisher.close()
    return got, conn, raw


def _reader_failure(caplog: pytest.LogCaptureFixture) -> BaseException | None:
    for record in caplog.records:
        if record.exc_info and isinstance(record.exc_info[1], InvalidFrameError):
            return record.exc_info[1]
    return None


def _too_long(channel: int, frame: bytes) -> bytes:
    # The head of a frame one byte over frame_max (131072, RabbitMQ's default) and the start of
    # its payload; the rest never comes: a reader that waits for it waits for ever.
    return _HEAD.pack(3, channel, 131072 - 7) + _payload(frame)


ATTACKS: dict[str, tuple[Rewrite, str]] = {
    "unknown frame type": (
        _on_first(2, lambda channel, frame: _frame(9, channel, _payload(frame))),
        "unknown frame type 9",
    ),
    "frame end not 0xCE": (
        _on_first(3, lambda channel, frame: _frame(3, channel, _payload(frame), end=0x00)),
        "no frame end",
    ),
    "frame longer than frame_max": (_on_first(3, _too_long), "frame_max"),
    "body longer than declared": (
        _on_first(2, lambda channel, frame: _with_body_size(frame, len(BODY) - 3)),
        "declared",
    ),
    "header declaring 2**63 bytes": (
        _on_first(2, lambda channel, frame: _with_body_size(frame, 2**63)),
        "body size",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_hostile_frame_closes_the_connection_and_the_redelivery_arrives_whole(
    fresh_vhost_amqp_url: str, caplog: pytest.LogCaptureFixture, attack: str
) -> None:
    install()
    rewrite, names_it = ATTACKS[attack]
    proxy, url = await FrameProxy.before(fresh_vhost_amqp_url)
    caplog.set_level(logging.WARNING)
    conn = None
    try:
        proxy.rewrite = rewrite
        got, conn, raw = await _consume_through(proxy, url, fresh_vhost_amqp_url)
        # Within the deadline, not after a heartbeat timeout (aio-pika's default is 60 s).
        await until(lambda: got != [], what="the redelivery", deadline=DEADLINE, interval=0.01)
        assert proxy.rewritten == 1
        assert got == [(BODY, True)]  # nothing corrupt first: only the broker's redelivery, whole
        assert raw.is_closed  # type: ignore[attr-defined]
        failure = _reader_failure(caplog)
        assert failure is not None, "the connection was not failed by the reader"
        assert names_it in str(failure), str(failure)
    finally:
        if conn is not None:
            await conn.close()
        await proxy.stop()


async def test_a_delivery_on_a_channel_no_consumer_is_on_is_handed_to_no_one(
    fresh_vhost_amqp_url: str,
) -> None:
    """Ahead of the real delivery, a whole delivery on a channel that is not open and one for a
    consumer tag nobody holds: neither is handed over (aiormq logs the first, the router drops
    the second, as aiormq does), and the real one arrives whole, first time."""
    install()
    proxy, url = await FrameProxy.before(fresh_vhost_amqp_url)

    def fake(channel: int, tag: str) -> bytes:
        return b"".join(
            pamqp.frame.marshal(f, channel)
            for f in (
                spec.Basic.Deliver(consumer_tag=tag, delivery_tag=99, exchange="", routing_key="q"),
                ContentHeader(body_size=4),
                ContentBody(b"fake"),
            )
        )

    def rewrite(kind: int, channel: int, frame: bytes) -> bytes | None:
        if kind == 1 and channel != 0 and _payload(frame)[:4] == b"\x00\x3c\x00\x3c":
            return fake(channel + 7, "ctag") + fake(channel, "no-such-consumer") + frame
        return None

    conn = None
    try:
        proxy.rewrite = rewrite
        got, conn, raw = await _consume_through(proxy, url, fresh_vhost_amqp_url)
        await until(lambda: got != [], what="the delivery", deadline=DEADLINE, interval=0.01)
        assert proxy.rewritten == 1
        assert got == [(BODY, False)]
        assert not raw.is_closed  # type: ignore[attr-defined]
    finally:
        if conn is not None:
            await conn.close()
        await proxy.stop()


# --- the same faults on the reader alone (no broker) --------------------------------------------


def _tune(frame_max: int) -> bytes:
    return pamqp.frame.marshal(spec.Connection.Tune(channel_max=0, frame_max=frame_max, heartbeat=0), 0)


async def test_a_frame_over_frame_max_is_refused_on_its_head_before_its_bytes_arrive() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(_tune(4096) + _HEAD.pack(3, 1, 4096 - 7))  # one byte over; no payload yet
    frames = FrameReader(reader)
    assert isinstance((await frames.get_frame())[2], spec.Connection.Tune)
    with pytest.raises(InvalidFrameError, match="over frame_max"):
        await asyncio.wait_for(frames.get_frame(), DEADLINE)


async def test_before_the_tune_a_frame_is_held_to_rabbitmqs_default_frame_max() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(_HEAD.pack(1, 0, 2**32 - 1))
    with pytest.raises(InvalidFrameError, match="over frame_max"):
        await asyncio.wait_for(FrameReader(reader).get_frame(), DEADLINE)


async def test_a_header_declaring_more_than_any_message_can_be_is_refused() -> None:
    header = pamqp.frame.marshal(ContentHeader(body_size=MAX_BODY_SIZE + 1), 1)
    reader = asyncio.StreamReader()
    reader.feed_data(header)
    with pytest.raises(InvalidFrameError, match="body size"):
        await FrameReader(reader).get_frame()
    ok = asyncio.StreamReader()
    ok.feed_data(pamqp.frame.marshal(ContentHeader(body_size=MAX_BODY_SIZE), 1))
    assert (await FrameReader(ok).get_frame())[2].body_size == MAX_BODY_SIZE


async def test_the_frames_ahead_of_a_bad_one_in_its_chunk_are_handed_out_first() -> None:
    """A confirm read in the same chunk as a corrupt frame behind it still reaches aiormq (as its
    own frame-by-frame reader would hand it over); then the error."""
    ack = pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=7), 1)
    reader = asyncio.StreamReader()
    reader.feed_data(ack + _frame(9, 1, b"x"))
    frames = FrameReader(reader)
    assert (await frames.get_frame())[2].delivery_tag == 7
    with pytest.raises(InvalidFrameError, match="unknown frame type 9"):
        await frames.get_frame()
    with pytest.raises(InvalidFrameError):  # and it stays failed
        await frames.get_frame()
