"""Deliveries of AmqpBus: consumed messages (explicit settling) and direct reply-to replies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiormq.abc
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from tidal_amqp.channel_writer import ChannelWriter, closing
from tidal_amqp.frames import ack_frame, nack_frame

from ._api import (
    DIRECT_REPLY_TO,
    DLX_EXCHANGE,
    BusClosedError,
    OutMessage,
    count_dead_letter,
    dead_letter_headers,
    log,
)

if TYPE_CHECKING:
    from .amqp import AmqpBus

AMQP_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError)


class SettledTags:
    """Which delivery tags of one consumer's channel are settled: every tag up to `floor`, and
    those above it in `above`. Delivery tags count the channel's deliveries 1, 2, 3...; a consumer
    channel carries one consumer, so a tag this channel delivered and nobody settled is unsettled,
    whether or not its handler has run yet. That is what makes one `basic.ack(multiple=True)`
    safe: it is sent only when every tag it covers is settled or in the acked group.
    A reconnect opens a new channel whose tags start again at 1 (settling a delivery of the old
    one fails before it gets here), so the count restarts with the channel."""

    __slots__ = ("_channel", "above", "floor")

    def __init__(self) -> None:
        self._channel: object | None = None
        self.floor = 0
        self.above: set[int] = set()

    def on(self, channel: object) -> None:
        if channel is not self._channel:
            self._channel, self.floor, self.above = channel, 0, set()

    def settle(self, tag: int) -> None:
        if tag <= self.floor:
            return
        self.above.add(tag)
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.remove(self.floor)

    def covers(self, tags: set[int], top: int) -> bool:
        """True if every tag up to `top` is settled already or in `tags`."""
        return all(t in tags or t in self.above for t in range(self.floor + 1, top + 1))


class AmqpDelivery:
    """A consumed message, read straight off aiormq's DeliveredMessage: properties are read when
    asked for (pamqp decoded them already), and settling appends one frame to the consumer
    channel's write of this turn (ChannelWriter) instead of a write, a drain and a lock each."""

    __slots__ = ("_bus", "_msg", "_settled", "_tags", "_writer", "queue")

    def __init__(
        self,
        bus: AmqpBus,
        message: DeliveredMessage,
        queue: str,
        tags: SettledTags | None = None,
        writer: ChannelWriter | None = None,
    ) -> None:
        self._bus = bus
        self._msg = message
        self.queue = queue
        self._settled = False
        self._tags = tags
        self._writer = writer or ChannelWriter(message.channel)  # type: ignore[arg-type]

    @property
    def body(self) -> bytes:
        return self._msg.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._msg.header.properties.headers or {}

    @property
    def routing_key(self) -> str:
        return self._msg.delivery.routing_key or ""  # type: ignore[union-attr]

    @property
    def exchange(self) -> str:
        return self._msg.delivery.exchange or ""  # type: ignore[union-attr]

    @property
    def message_id(self) -> str | None:
        return self._msg.header.properties.message_id

    @property
    def correlation_id(self) -> str | None:
        return self._msg.header.properties.correlation_id

    @property
    def reply_to(self) -> str | None:
        return self._msg.header.properties.reply_to

    @property
    def redelivered(self) -> bool:
        return bool(self._msg.delivery.redelivered)  # type: ignore[union-attr]

    @property
    def settled(self) -> bool:
        return self._settled

    @property
    def _tag(self) -> int:
        return self._msg.delivery.delivery_tag  # type: ignore[union-attr,return-value]

    def _live_channel(self) -> aiormq.abc.AbstractChannel:
        channel = self._msg.channel
        if closing(channel):
            # Consumer cancelled or connection lost: the broker requeued it; the tag is void.
            raise BusClosedError("the delivery's channel is closed; it was requeued")
        return channel

    def _claim(self) -> bool:
        if self._settled:
            return False
        channel = self._live_channel()
        self._settled = True
        if self._tags is not None:
            self._tags.on(channel)
            self._tags.settle(self._tag)
        return True

    async def ack(self) -> None:
        if self._claim():
            self._writer.send(ack_frame(self._msg.channel.number, self._tag, multiple=False))

    async def nack(self, *, requeue: bool = True) -> None:
        if self._claim():
            self._writer.send(
                nack_frame(self._msg.channel.number, self._tag, multiple=False, requeue=requeue)
            )

    async def dead_letter(self, reason: str) -> None:
        if self._settled:
            return
        spec = self._bus._specs.get(self.queue)
        if spec is None or spec.dead_letter:  # queues declared elsewhere default to dead-lettering
            props = self._msg.header.properties
            await self._bus.publish(
                OutMessage(
                    exchange=DLX_EXCHANGE,
                    routing_key=self.routing_key,
                    body=self.body,
                    headers=dead_letter_headers(
                        self.headers, reason, self.queue, self.exchange, self.routing_key
                    ),
                    message_id=props.message_id,
                    correlation_id=props.correlation_id,
                    content_type=props.content_type or "application/json",
                )
            )
            count_dead_letter(self.queue)
        else:
            log.warning("dropping a dead-lettered message from %r (%s)", self.queue, reason)
        await self.ack()


async def ack_many(deliveries: Sequence[AmqpDelivery]) -> None:
    """Ack the deliveries of one consumer: one `basic.ack(multiple=True)` at the highest tag when
    every tag below it is in the group or settled already (history's batch, taken in delivery order
    from its inbox, usually is), otherwise one ack each. A delivery settled already is skipped."""
    pending = [d for d in deliveries if not d.settled]
    tags = pending[0]._tags if pending else None
    if len(pending) < 2 or tags is None or any(d._tags is not tags for d in pending):
        for d in pending:
            await d.ack()
        return
    channels = {id(d._live_channel()) for d in pending}
    top = max(pending, key=lambda d: d._tag)
    if len(channels) != 1:
        for d in pending:
            await d.ack()
        return
    tags.on(top._msg.channel)
    group = {d._tag for d in pending}
    if len(group) != len(pending) or not tags.covers(group, top._tag):
        for d in pending:
            await d.ack()
        return
    for d in pending:
        d._claim()
    top._writer.send(ack_frame(top._msg.channel.number, top._tag, multiple=True))


class ReplyDelivery:
    """A reply received through direct reply-to: no-ack, so settling is a no-op."""

    __slots__ = ("_raw",)
    queue = DIRECT_REPLY_TO
    redelivered = False
    settled = True

    def __init__(self, raw: DeliveredMessage) -> None:
        self._raw = raw

    @property
    def body(self) -> bytes:
        return self._raw.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._raw.header.properties.headers or {}

    @property
    def routing_key(self) -> str:
        return self._raw.routing_key or ""

    @property
    def exchange(self) -> str:
        return self._raw.exchange or ""

    @property
    def message_id(self) -> str | None:
        return self._raw.header.properties.message_id

    @property
    def correlation_id(self) -> str | None:
        return self._raw.header.properties.correlation_id

    @property
    def reply_to(self) -> str | None:
        return self._raw.header.properties.reply_to

    async def ack(self) -> None:
        return None

    async def nack(self, *, requeue: bool = True) -> None:
        return None

    async def dead_letter(self, reason: str) -> None:
        return None
