"""The hand-marshalled AMQP frames (the server bus's and the worker's) are byte for byte what
pamqp writes."""

from __future__ import annotations

import pamqp.frame
import pytest
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from tidal_amqp.frames import ack_frame, content_frames, nack_frame, publish_method_frame


@pytest.mark.parametrize("mandatory", [True, False])
def test_publish_method(mandatory: bool) -> None:
    ours = publish_method_frame(7, "tidal.history", "shard.12", mandatory=mandatory)
    theirs = spec.Basic.Publish(exchange="tidal.history", routing_key="shard.12", mandatory=mandatory)
    assert ours == pamqp.frame.marshal(theirs, 7)


@pytest.mark.parametrize(
    "props",
    [
        {"content_type": "application/json", "delivery_mode": 2},
        {
            "content_type": "application/json",
            "delivery_mode": 2,
            "headers": {"traceparent": "00-abc-def-01", "n": 3},
            "correlation_id": "c-1",
            "reply_to": "amq.rabbitmq.reply-to.x",
        },
        {"headers": {"x-tidal-dead-letter-reason": "bad \u00e9"}, "delivery_mode": 2, "correlation_id": "é"},
        {},
        # The server bus's publish: priority too (a task queue's priority), every property set.
        {
            "content_type": "application/json",
            "headers": {"x-tidal-shard": 7},
            "delivery_mode": 2,
            "priority": 9,
            "correlation_id": "c-2",
            "reply_to": "amq.rabbitmq.reply-to.y",
        },
        # Empty strings are absent in pamqp's header; priority 0 is present.
        {"content_type": "", "correlation_id": "", "reply_to": "", "priority": 0, "delivery_mode": 2},
    ],
)
@pytest.mark.parametrize("body", [b"", b"x" * 10, b"y" * 25])
def test_content_frames(props: dict[str, object], body: bytes) -> None:
    ours = content_frames(3, body, max_body_frame=8, message_id="m-1", **props)  # type: ignore[arg-type]
    header = ContentHeader(properties=spec.Basic.Properties(message_id="m-1", **props), body_size=len(body))
    chunks = [body[i : i + 8] for i in range(0, len(body), 8)]
    theirs = pamqp.frame.marshal(header, 3) + b"".join(pamqp.frame.marshal(ContentBody(c), 3) for c in chunks)
    assert ours == theirs
    # And pamqp reads the header back with the same properties.
    _used, channel, parsed = pamqp.frame.unmarshal(ours)
    assert channel == 3 and isinstance(parsed, ContentHeader) and parsed.body_size == len(body)
    assert parsed.properties.message_id == "m-1"


def test_settle_frames() -> None:
    assert ack_frame(2, 2**40) == pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=2**40), 2)
    for requeue in (True, False):
        ours = nack_frame(2, 9, requeue=requeue)
        assert ours == pamqp.frame.marshal(spec.Basic.Nack(delivery_tag=9, requeue=requeue), 2)


def test_a_short_string_over_255_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="255 bytes"):
        publish_method_frame(1, "", "q" * 256, mandatory=True)


# --- the shapes the server bus sends (moved from libs/server/tests/test_bus_amqp_wire.py) ---


@pytest.mark.parametrize("mandatory", [True, False])
@pytest.mark.parametrize(
    ("exchange", "key"), [("", "q"), ("tidal.history", "shard.7"), ("ex-1:a.b", "é" * 127)]
)
def test_the_hand_marshalled_publish_frame_is_pamqps(exchange: str, key: str, mandatory: bool) -> None:
    import pamqp.frame
    from pamqp import commands
    from tidal_amqp.frames import publish_method_frame

    frame = commands.Basic.Publish(exchange=exchange, routing_key=key, mandatory=mandatory)
    assert publish_method_frame(5, exchange, key, mandatory=mandatory) == pamqp.frame.marshal(frame, 5)


@pytest.mark.parametrize("multiple", [True, False])
@pytest.mark.parametrize("requeue", [True, False])
def test_the_hand_marshalled_settle_frames_are_pamqps(multiple: bool, requeue: bool) -> None:
    import pamqp.frame
    from pamqp import commands
    from tidal_amqp.frames import ack_frame, nack_frame

    tag = 2**40 + 3
    ack = commands.Basic.Ack(delivery_tag=tag, multiple=multiple)
    nack = commands.Basic.Nack(delivery_tag=tag, multiple=multiple, requeue=requeue)
    assert ack_frame(9, tag, multiple=multiple) == pamqp.frame.marshal(ack, 9)
    assert nack_frame(9, tag, multiple=multiple, requeue=requeue) == pamqp.frame.marshal(nack, 9)


def test_a_routing_key_over_255_bytes_is_refused_before_anything_is_sent() -> None:
    from tidal_amqp.frames import publish_method_frame

    with pytest.raises(ValueError, match="too long"):
        publish_method_frame(1, "", "é" * 128, mandatory=True)
