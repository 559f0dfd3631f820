"""The connection's frame reader: what the socket has, read in one chunk, every complete frame in
it parsed in one pass.

aiormq's `FrameReceiver` reads each frame with three `readexactly` calls into a `BytesIO` under
a lock, then has pamqp parse it; a delivery is three frames, so nine awaits and three buffers per
message before anything is dispatched. `FrameReader` is a drop-in for it (same iterator, same
`get_frame`, the same exceptions for the same failures): one `read` per socket chunk, frames
split with `struct.unpack_from`, the ones already in the buffer handed out without awaiting.
basic.deliver, the content header's usual properties and body frames are decoded here directly;
every other frame goes to pamqp as before.

Hostile or corrupt input fails the connection with an `InvalidFrameError` naming the fault
(libs/amqp/tests/test_reader_attacks.py): an unknown frame type, a missing frame end, a frame
over frame_max (refused on its head, before its bytes arrive: the limit is RabbitMQ's default
until connection.tune sets the negotiated one), a content header declaring more than
`MAX_BODY_SIZE`; the frames ahead of a bad one in its chunk are handed out first.

`install()` makes aiormq build this reader for every connection it opens from then on (aiormq
constructs its receiver from the module attribute in `Connection.connect`, and aio-pika opens its
connections through `aiormq.connect`, so there is no per-connection hook). The swap is
process-wide and idempotent; `libs/amqp/tests/test_package.py` fails if aiormq stops reading the
attribute there.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from typing import Any

import aiormq.connection
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError, ProtocolSyntaxError
from pamqp import commands, heartbeat
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException

from .properties import decode_header

__all__ = ["MAX_BODY_SIZE", "FrameReader", "install"]

_HEAD = struct.Struct(">BHI")  # frame type, channel, payload size
_HEAD_SIZE = 7
_FRAME_END = 0xCE
_METHOD, _HEADER, _BODY, _HEARTBEAT = 1, 2, 3, 8
_DELIVER_INDEX = 0x003C003C  # class basic (60), method deliver (60)
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_READ_SIZE = 256 * 1024
# The largest frame before connection.tune settles frame_max (RabbitMQ's default frame_max; its
# connection.start is well under it), and after a tune of 0 ("no limit") the protocol's own.
_PRE_TUNE_FRAME_MAX = 131072
_NO_FRAME_MAX = 2**32 + 7
# RabbitMQ's ceiling for max_message_size (512 MiB): a content header declaring more is corrupt.
MAX_BODY_SIZE = 512 * 1024 * 1024

ReceivedFrame = tuple[int, int, Any]


def _deliver(payload: bytes) -> commands.Basic.Deliver:
    """basic.deliver's arguments: consumer tag, delivery tag, redelivered, exchange, routing key.
    Set on the slots directly: pamqp's generic unmarshal looks every argument's type up and its
    constructor validates what the broker already validated."""
    frame = commands.Basic.Deliver.__new__(commands.Basic.Deliver)
    pos = 4
    n = payload[pos]
    frame.consumer_tag = payload[pos + 1 : pos + 1 + n].decode()
    pos += 1 + n
    frame.delivery_tag = _U64.unpack_from(payload, pos)[0]
    frame.redelivered = bool(payload[pos + 8] & 1)
    pos += 9
    n = payload[pos]
    frame.exchange = payload[pos + 1 : pos + 1 + n].decode()
    pos += 1 + n
    n = payload[pos]
    frame.routing_key = payload[pos + 1 : pos + 1 + n].decode()
    if pos + 1 + n != len(payload):
        raise ValueError(f"basic.deliver of {len(payload)} bytes has {len(payload) - pos - 1 - n} left over")
    return frame


def _method(payload: bytes) -> Any:
    index = _U32.unpack_from(payload)[0]
    if index == _DELIVER_INDEX:
        return _deliver(payload)
    try:
        method = commands.INDEX_MAPPING[index]()
    except KeyError as exc:
        raise InvalidFrameError(f"unknown method index {index:#010x}") from exc
    method.unmarshal(payload[4:])
    return method


def _decode(kind: int, payload: bytes) -> Any:
    try:
        if kind == _BODY:
            return ContentBody(payload)
        if kind == _METHOD:
            return _method(payload)
        if kind == _HEADER:
            header = decode_header(payload)
            if header.body_size > MAX_BODY_SIZE:
                # Waiting for that many bytes would wait for ever (and hold all that arrive).
                raise InvalidFrameError(f"content header declares a body size of {header.body_size} bytes")
            return header
        if kind == _HEARTBEAT:
            return heartbeat.Heartbeat()
    except (struct.error, ValueError, IndexError, UnicodeDecodeError, PAMQPException) as exc:
        raise InvalidFrameError(f"frame type {kind}: {exc}") from exc
    raise InvalidFrameError(f"unknown frame type {kind}")


class FrameReader:
    """aiormq's `FrameReceiver` interface over chunked reads (module docstring)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader: asyncio.StreamReader = reader
        self.started = False
        self.lock = asyncio.Lock()  # aiormq's attribute; reads here never interleave
        self._buf = b""
        self._ready: deque[ReceivedFrame] = deque()
        # The largest payload a frame may have: frame_max less a frame's head and end byte.
        self._max_payload = _PRE_TUNE_FRAME_MAX - _HEAD_SIZE - 1
        # A bad frame's error, raised once the frames ahead of it in its chunk are handed out
        # (as aiormq's reader, which reads frame by frame, would have handed them out).
        self._failed: Exception | None = None

    def __aiter__(self) -> FrameReader:
        return self

    async def __anext__(self) -> ReceivedFrame:
        return await self.get_frame()

    async def get_frame(self) -> ReceivedFrame:
        ready = self._ready
        while not ready:
            if self._failed is not None:
                raise self._failed
            chunk = await self._read()
            if not chunk:
                if self._buf:
                    raise AMQPConnectionError(
                        "Server connection unexpectedly closed. "
                        f"Read {len(self._buf)} bytes of a frame that was never completed"
                    )
                raise StopAsyncIteration
            self._buf = self._buf + chunk if self._buf else chunk
            self._split()
        return ready.popleft()

    async def _read(self) -> bytes:
        try:
            return await self.reader.read(_READ_SIZE)
        except ConnectionRefusedError as e:
            raise AMQPConnectionError(f"Server connection refused: {e!r}") from e
        except ConnectionResetError as e:
            raise AMQPConnectionError(f"Server connection reset: {e!r}") from e
        except ConnectionError as e:
            raise AMQPConnectionError(f"Server connection error: {e!r}") from e
        except OSError as e:
            raise AMQPConnectionError(f"Server communication error: {e!r}") from e

    def _split(self) -> None:
        """Every complete frame in the buffer, parsed, in order; the incomplete tail stays."""
        buf = self._buf
        size = len(buf)
        pos = 0
        unpack, ready = _HEAD.unpack_from, self._ready
        while size - pos >= _HEAD_SIZE:
            if not self.started:
                if buf.startswith(b"AMQP"):
                    # The broker answers a protocol header it does not speak with its own.
                    raise ProtocolSyntaxError("Unexpected AMQP protocol header")
                self.started = True
            kind, channel, length = unpack(buf, pos)
            try:
                if length > self._max_payload:
                    # Refused on its head: never wait for (nor hold) the bytes it promises.
                    raise InvalidFrameError(
                        f"frame type {kind} on channel {channel}: {length + _HEAD_SIZE + 1} bytes, "
                        f"over frame_max ({self._max_payload + _HEAD_SIZE + 1})"
                    )
                end = pos + _HEAD_SIZE + length
                if end >= size:
                    break
                if buf[end] != _FRAME_END:
                    raise InvalidFrameError(f"frame type {kind} on channel {channel}: no frame end")
                frame = _decode(kind, buf[pos + _HEAD_SIZE : end])
            except InvalidFrameError as exc:
                self._buf = b""
                if not ready:
                    raise
                self._failed = exc
                return
            if not channel and type(frame) is commands.Connection.Tune:
                # The client takes the broker's frame_max as it is (aiormq's tune-ok).
                limit = frame.frame_max or _NO_FRAME_MAX
                self._max_payload = limit - _HEAD_SIZE - 1
            ready.append((end + 1 - pos, channel, frame))
            pos = end + 1
        self._buf = buf[pos:] if pos else buf


def install() -> None:
    """Make aiormq read every connection it opens from now on with `FrameReader`."""
    aiormq.connection.FrameReceiver = FrameReader  # type: ignore[misc,assignment]
