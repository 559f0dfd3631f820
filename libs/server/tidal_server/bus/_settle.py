"""Settling many deliveries at once, in as few frames as the transport allows."""

from __future__ import annotations

from collections.abc import Sequence

from ._amqp_delivery import AmqpDelivery, ack_many
from ._api import Delivery

__all__ = ["ack_all"]


async def ack_all(deliveries: Sequence[Delivery]) -> None:
    """Ack every delivery not settled yet. On RabbitMQ the deliveries of one consumer go in one
    `basic.ack(multiple=True)` when nothing unsettled lies below the highest of them (otherwise one
    ack each); the in-memory bus acks each, which costs nothing. Raises BusClosedError as `ack`
    does when a delivery's channel is gone (the broker has requeued what was not acked)."""
    groups: dict[int, list[AmqpDelivery]] = {}
    for d in deliveries:
        if isinstance(d, AmqpDelivery):
            groups.setdefault(id(d._tags), []).append(d)
        else:
            await d.ack()
    for group in groups.values():
        await ack_many(group)
