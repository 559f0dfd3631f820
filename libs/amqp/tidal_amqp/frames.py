"""AMQP 0-9-1 frames sent on the hot path, marshalled directly (no I/O).

pamqp builds a method or properties object per frame and encodes every field through a type
dispatch; the server's bus and the worker send the same few shapes thousands of times (a
persistent publish with a handful of properties, an ack, a nack), so these encode exactly those
shapes with `struct`. `libs/amqp/tests/test_frames.py` holds them byte for byte to pamqp's
output, and parses them back with pamqp.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from pamqp import encode

__all__ = ["ack_frame", "content_frames", "nack_frame", "publish_method_frame"]

_FRAME_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC = 60
_FRAME_HEAD = struct.Struct(">BHI")
_PUBLISH = struct.Struct(">HHH")  # class, method (40), reserved ticket
_ACK = struct.Struct(">HHQB")  # class, method (80 ack, 120 nack), delivery tag, bits
_HEADER_HEAD = struct.Struct(">HHQH")  # class, weight, body size, property flags

# Property flag bits of Basic's content header (AMQP 0-9-1, 4.2.6.1), in wire order.
_CONTENT_TYPE = 1 << 15
_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_PRIORITY = 1 << 11
_CORRELATION_ID = 1 << 10
_REPLY_TO = 1 << 9
_MESSAGE_ID = 1 << 7


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEAD.pack(kind, channel, len(payload)) + payload + _FRAME_END


def _short(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        # As aiormq's basic_publish: a short string cannot say more than 255 bytes. Refused before
        # anything is appended to a write, so the channel never sees half a publish.
        raise ValueError(f"AMQP short string too long ({len(raw)} > 255 bytes): {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def publish_method_frame(channel: int, exchange: str, routing_key: str, *, mandatory: bool) -> bytes:
    """Basic.Publish (immediate off, which RabbitMQ does not support)."""
    args = (
        _PUBLISH.pack(_BASIC, 40, 0)
        + _short(exchange)
        + _short(routing_key)
        + (b"\x01" if mandatory else b"\x00")
    )
    return _frame(_METHOD, channel, args)


def content_frames(
    channel: int,
    body: bytes,
    *,
    max_body_frame: int,
    message_id: str,
    content_type: str | None = None,
    headers: Mapping[str, Any] | None = None,
    delivery_mode: int | None = None,
    priority: int | None = None,
    correlation_id: str | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The content header (with the properties the bus and the worker set) and the body frames,
    each body frame at most `max_body_frame` bytes of body (the connection's frame_max minus a
    frame's overhead)."""
    flags = 0
    fields: list[bytes] = []
    # Fields go in flag order: content type, headers, delivery mode, priority, correlation id,
    # reply to, message id.
    # As pamqp: an empty string property is absent (flag clear), not an empty short string.
    if content_type:
        flags |= _CONTENT_TYPE
        fields.append(_short(content_type))
    if headers:
        flags |= _HEADERS
        fields.append(encode.field_table(dict(headers)))
    if delivery_mode is not None:
        flags |= _DELIVERY_MODE
        fields.append(bytes((delivery_mode,)))
    if priority is not None:
        flags |= _PRIORITY
        fields.append(bytes((priority,)))
    if correlation_id:
        flags |= _CORRELATION_ID
        fields.append(_short(correlation_id))
    if reply_to:
        flags |= _REPLY_TO
        fields.append(_short(reply_to))
    if message_id:
        flags |= _MESSAGE_ID
        fields.append(_short(message_id))
    out = [_frame(_HEADER, channel, _HEADER_HEAD.pack(_BASIC, 0, len(body), flags) + b"".join(fields))]
    for start in range(0, len(body), max_body_frame):
        out.append(_frame(_BODY, channel, body[start : start + max_body_frame]))
    return b"".join(out)


def ack_frame(channel: int, delivery_tag: int, *, multiple: bool = False) -> bytes:
    return _frame(_METHOD, channel, _ACK.pack(_BASIC, 80, delivery_tag, int(multiple)))


def nack_frame(channel: int, delivery_tag: int, *, requeue: bool, multiple: bool = False) -> bytes:
    # Bits: multiple (bit 0), requeue (bit 1).
    return _frame(_METHOD, channel, _ACK.pack(_BASIC, 120, delivery_tag, int(multiple) | int(requeue) << 1))
