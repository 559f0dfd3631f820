"""One AmqpBus consumer: its robust channel, and deliveries taken straight off aiormq."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError
from pamqp.header import ContentHeader
from tidal_amqp.channel_writer import ChannelWriter, close_shielded
from tidal_amqp.deliveries import route_deliveries

from ._amqp_delivery import AMQP_ERRORS, AmqpDelivery, SettledTags
from ._api import Handler, log, run_handler

if TYPE_CHECKING:
    from .amqp import AmqpBus

__all__ = ["AmqpConsumer"]


class AmqpConsumer:
    """One consumer on its own robust channel. aio-pika consumes (and, after a reconnect, consumes
    again with the same tag, qos and exclusivity); the first delivery on each raw channel reaches
    `on_message` through aio-pika's IncomingMessage, which then points the raw channel's consumer
    at `on_raw`: later deliveries skip aio-pika's message object and its second task, and are
    assembled as the connection's reader hands their frames over (`tidal_amqp.deliveries`)."""

    __slots__ = ("_bus", "_channel", "_done", "_handler", "_tags", "_writer", "queue")

    def __init__(self, bus: AmqpBus, channel: AbstractRobustChannel, queue: str, handler: Handler) -> None:
        self._bus = bus
        self._channel = channel
        self.queue = queue
        self._handler = handler
        self._done = False
        self._tags = SettledTags()
        self._writer: ChannelWriter | None = None

    def _writer_for(self, raw: aiormq.Channel) -> ChannelWriter:
        writer = self._writer
        if writer is None or writer.channel is not raw:
            writer = self._writer = ChannelWriter(raw)
        return writer

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            raw = message.channel
        except ChannelInvalidStateError:
            return  # the channel died before the handler ran: the broker requeued it
        assert isinstance(raw, aiormq.Channel)
        tag = message.consumer_tag
        if tag is not None and tag in raw.consumers:
            raw.consumers[tag] = self.on_raw
            route_deliveries(raw)
        props = aiormq.spec.Basic.Properties(
            headers=dict(message.headers) or None,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            content_type=message.content_type,
            priority=message.priority,
        )
        delivered = DeliveredMessage(
            delivery=aiormq.spec.Basic.Deliver(
                consumer_tag=tag,
                delivery_tag=message.delivery_tag,
                redelivered=bool(message.redelivered),
                exchange=message.exchange or "",
                routing_key=message.routing_key or "",
            ),
            header=ContentHeader(0, len(message.body), props),
            body=message.body,
            channel=raw,
        )
        await self.on_raw(delivered)

    async def on_raw(self, message: DeliveredMessage) -> None:
        writer = self._writer_for(message.channel)  # type: ignore[arg-type]
        await run_handler(self._handler, AmqpDelivery(self._bus, message, self.queue, self._tags, writer))

    async def cancel(self) -> None:
        if self._done:
            return
        self._bus._consumers.discard(self)
        # Closing the channel cancels the consumer and makes the broker requeue every unacked
        # delivery (redelivered=True); later settles on them raise BusClosedError.
        await self.close_channel()

    async def close_channel(self) -> None:
        self._done = True
        try:
            if self._writer is not None:
                await self._writer.drain()  # the acks given so far go before the channel.close
                self._writer.close()  # and none after it
            await close_shielded(self._channel)
        except AMQP_ERRORS:
            log.debug("consumer channel of %r was already gone", self.queue, exc_info=True)
