"""The worker's hand-marshalled AMQP frames are byte for byte what pamqp writes."""

from __future__ import annotations

import pamqp.frame
import pytest
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from tidal._amqp_frames import ack_frame, content_frames, nack_frame, publish_method_frame


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
