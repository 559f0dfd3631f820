"""The worker's AMQP transport against a real broker."""

from __future__ import annotations

import uuid

import aio_pika
from tidal._task_queue_rate import RateDeclarer
from tidal._transport import AmqpTransport


async def test_a_rate_declaration_to_a_missing_exchange_leaves_completions_working(
    fresh_vhost_amqp_url: str,
) -> None:
    """On a vhost where no matching (nor history) ever ran, `tidal.matching` does not exist and
    the broker closes the channel a publish to it went through. The declaration goes on a
    channel of its own: the next completion on the worker's publishing channel still goes out."""
    transport = AmqpTransport(fresh_vhost_amqp_url)
    queue = f"completions-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(fresh_vhost_amqp_url)
    try:
        q = await (await conn.channel()).declare_queue(queue, auto_delete=True)
        declarer = RateDeclarer(
            transport=transport, namespace="ns", task_queue="q", per_second=2.0, identity="w"
        )
        await declarer.declare()  # logged, not raised
        await transport.publish("", queue, b'{"completion": 1}')
        message = await q.get(no_ack=True, fail=False)
        for _ in range(50):
            if message is not None:
                break
            message = await q.get(no_ack=True, fail=False)
        assert message is not None and message.body == b'{"completion": 1}'
    finally:
        await conn.close()
        await transport.close()
