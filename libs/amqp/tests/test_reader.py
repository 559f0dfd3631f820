"""The chunked frame reader gives what aiormq's reader gave (pamqp's frames, weights and channels)
however the socket splits the bytes, and decodes a content header exactly as pamqp does."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pamqp.frame
import pytest
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError, ProtocolSyntaxError
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat
from tidal_amqp.properties import decode_header
from tidal_amqp.reader import FrameReader

FRAME_MAX_BODY = 64  # a connection's frame_max minus the 8 bytes of a frame's head and end


def _norm(frame: Any) -> tuple[str, Any]:
    if isinstance(frame, ContentHeader):
        props = {k: getattr(frame.properties, k) for k in spec.Basic.Properties.__slots__}
        return "header", (frame.class_id, frame.weight, frame.body_size, props)
    if isinstance(frame, ContentBody):
        return "body", frame.value
    if isinstance(frame, Heartbeat):
        return "heartbeat", None
    return type(frame).__name__, {k: getattr(frame, k) for k in frame.__slots__}


def _delivery(channel: int, tag: int, body: bytes, **props: Any) -> bytes:
    out = pamqp.frame.marshal(
        spec.Basic.Deliver(
            consumer_tag="ctag-é",
            delivery_tag=tag,
            redelivered=tag % 2 == 0,
            exchange="tidal.x",
            routing_key="k",
        ),
        channel,
    )
    header = ContentHeader(body_size=len(body), properties=spec.Basic.Properties(**props))
    out += pamqp.frame.marshal(header, channel)
    for start in range(0, len(body), FRAME_MAX_BODY):
        out += pamqp.frame.marshal(ContentBody(body[start : start + FRAME_MAX_BODY]), channel)
    return out


def _expected(stream: bytes) -> list[tuple[int, int, tuple[str, Any]]]:
    out = []
    while stream:
        used, channel, frame = pamqp.frame.unmarshal(stream)
        out.append((used, channel, _norm(frame)))
        stream = stream[used:]
    return out


HEARTBEAT = pamqp.frame.marshal(Heartbeat(), 0)
CLOSE = spec.Channel.Close(reply_code=406, reply_text="PRECONDITION_FAILED", class_id=60, method_id=40)
FULL_PROPS: dict[str, Any] = {
    "content_type": "application/json",
    "content_encoding": "gzip",
    "headers": {"traceparent": "00-ab-cd-01", "n": 3, "nested": {"x": [1, "y"]}, "nul": "a\x00b"},
    "delivery_mode": 2,
    "priority": 7,
    "correlation_id": "c-1",
    "reply_to": "amq.rabbitmq.reply-to.abc",
    "expiration": "60000",
    "message_id": "m-é",
    "timestamp": datetime.datetime(2026, 12, 8, 1, 2, 3, tzinfo=datetime.UTC),
    "message_type": "WorkflowTask",
    "user_id": "guest",
    "app_id": "tidal",
}

# One stream with what the hot path meets: an empty body, a NUL-filled body, a body of exactly
# one full frame and one a byte over it (two frames), a heartbeat between a delivery's frames,
# other channels' frames in between, and a confirm.
STREAM = (
    _delivery(1, 1, b"")
    + _delivery(1, 2, b"\x00" * 100, **FULL_PROPS)
    + _delivery(2, 3, b"x" * FRAME_MAX_BODY, message_id="exact")
    + _delivery(1, 4, b"y" * (FRAME_MAX_BODY + 1), message_id="over")
)
STREAM += (
    pamqp.frame.marshal(spec.Basic.Deliver(consumer_tag="t", delivery_tag=5, exchange="", routing_key="q"), 3)
    + HEARTBEAT
    + pamqp.frame.marshal(ContentHeader(body_size=3, properties=spec.Basic.Properties()), 3)
    + pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=9, multiple=True), 4)
    + pamqp.frame.marshal(ContentBody(b"abc"), 3)
    + pamqp.frame.marshal(
        spec.Channel.Close(reply_code=406, reply_text="PRECONDITION_FAILED", class_id=60, method_id=40), 5
    )
)


async def _read_all(chunks: list[bytes], count: int) -> list[tuple[int, int, tuple[str, Any]]]:
    reader = asyncio.StreamReader()
    frames = FrameReader(reader)
    got: list[tuple[int, int, tuple[str, Any]]] = []

    async def collect() -> None:
        while len(got) < count:
            used, channel, frame = await frames.get_frame()
            got.append((used, channel, _norm(frame)))

    task = asyncio.ensure_future(collect())
    for chunk in chunks:
        reader.feed_data(chunk)
        for _ in range(3):
            await asyncio.sleep(0)  # let the reader take this chunk alone
    await asyncio.wait_for(task, 10)
    return got


async def test_one_read_of_many_frames_gives_pamqps_frames() -> None:
    expected = _expected(STREAM)
    assert await _read_all([STREAM], len(expected)) == expected


async def test_frames_split_at_every_byte_boundary() -> None:
    expected = _expected(STREAM)
    for cut in range(1, len(STREAM)):
        got = await _read_all([STREAM[:cut], STREAM[cut:]], len(expected))
        assert got == expected, f"split at byte {cut}"


async def test_one_byte_per_read() -> None:
    stream = _delivery(1, 1, b"\x00z" * 70, **FULL_PROPS)
    expected = _expected(stream)
    assert await _read_all([stream[i : i + 1] for i in range(len(stream))], len(expected)) == expected


@pytest.mark.parametrize(
    "props",
    [{}, FULL_PROPS, {"headers": {}}, {"content_type": "", "priority": 0}, {"message_id": "x" * 255}],
)
def test_a_content_header_decodes_as_pamqps(props: dict[str, Any]) -> None:
    header = ContentHeader(body_size=2**40, properties=spec.Basic.Properties(**props))
    payload = pamqp.frame.marshal(header, 1)[7:-1]
    _used, _channel, theirs = pamqp.frame.unmarshal(pamqp.frame.marshal(header, 1))
    assert _norm(decode_header(payload)) == _norm(theirs)


async def test_eof_between_frames_ends_the_iteration() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(HEARTBEAT)
    reader.feed_eof()
    frames = FrameReader(reader)
    assert isinstance((await frames.get_frame())[2], Heartbeat)
    with pytest.raises(StopAsyncIteration):
        await frames.get_frame()


async def test_eof_mid_frame_is_a_connection_error_and_hands_nothing_over() -> None:
    stream = _delivery(1, 1, b"z" * 200)
    reader = asyncio.StreamReader()
    reader.feed_data(stream[:-5])
    reader.feed_eof()
    frames = FrameReader(reader)
    got = []
    with pytest.raises(AMQPConnectionError, match="unexpectedly closed"):
        while True:
            got.append((await frames.get_frame())[2])
    # Every complete frame came out; the last body frame, cut short, did not.
    assert [type(f).__name__ for f in got] == ["Deliver", "ContentHeader"] + ["ContentBody"] * 3


async def test_a_frame_without_its_end_byte_is_invalid() -> None:
    bad = bytearray(HEARTBEAT)
    bad[-1] = 0
    reader = asyncio.StreamReader()
    reader.feed_data(bytes(bad))
    with pytest.raises(InvalidFrameError):
        await FrameReader(reader).get_frame()


async def test_a_protocol_header_from_the_broker_is_refused() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"AMQP\x00\x00\x09\x01")
    with pytest.raises(ProtocolSyntaxError):
        await FrameReader(reader).get_frame()


async def test_a_truncated_deliver_is_invalid_not_a_crash() -> None:
    frame = pamqp.frame.marshal(
        spec.Basic.Deliver(consumer_tag="t", delivery_tag=1, exchange="", routing_key="q"), 1
    )
    payload = frame[7:-1][:-3]
    reader = asyncio.StreamReader()
    reader.feed_data(frame[:3] + len(payload).to_bytes(4, "big") + payload + b"\xce")
    with pytest.raises(InvalidFrameError):
        await FrameReader(reader).get_frame()
