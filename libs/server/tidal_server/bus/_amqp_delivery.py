"""Deliveries of AmqpBus: consumed messages (explicit settling) and direct reply-to replies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError

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


class AmqpDelivery:
    __slots__ = ("_bus", "_msg", "_settled", "queue")

    def __init__(self, bus: AmqpBus, message: AbstractIncomingMessage, queue: str) -> None:
        self._bus = bus
        self._msg = message
        self.queue = queue
        self._settled = False

    @property
    def body(self) -> bytes:
        return self._msg.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._msg.headers

    @property
    def routing_key(self) -> str:
        return self._msg.routing_key or ""

    @property
    def exchange(self) -> str:
        return self._msg.exchange or ""

    @property
    def message_id(self) -> str | None:
        return self._msg.message_id

    @property
    def correlation_id(self) -> str | None:
        return self._msg.correlation_id

    @property
    def reply_to(self) -> str | None:
        return self._msg.reply_to

    @property
    def redelivered(self) -> bool:
        return bool(self._msg.redelivered)

    @property
    def settled(self) -> bool:
        return self._settled

    def _claim(self) -> bool:
        if self._settled:
            return False
        try:
            self._msg.channel  # noqa: B018 (aio-pika raises here once the channel is closed)
        except ChannelInvalidStateError:
            # Consumer cancelled or connection lost: the broker requeued it; the tag is void.
            raise BusClosedError("the delivery's channel is closed; it was requeued") from None
        self._settled = True
        return True

    async def ack(self) -> None:
        if self._claim():
            try:
                await self._msg.ack()
            except AMQP_ERRORS as exc:
                raise BusClosedError(f"ack failed: {exc}") from exc

    async def nack(self, *, requeue: bool = True) -> None:
        if self._claim():
            try:
                await self._msg.nack(requeue=requeue)
            except AMQP_ERRORS as exc:
                raise BusClosedError(f"nack failed: {exc}") from exc

    async def dead_letter(self, reason: str) -> None:
        if self._settled:
            return
        spec = self._bus._specs.get(self.queue)
        if spec is None or spec.dead_letter:  # queues declared elsewhere default to dead-lettering
            m = self._msg
            await self._bus.publish(
                OutMessage(
                    exchange=DLX_EXCHANGE,
                    routing_key=self.routing_key,
                    body=m.body,
                    headers=dead_letter_headers(
                        m.headers, reason, self.queue, self.exchange, self.routing_key
                    ),
                    message_id=m.message_id,
                    correlation_id=m.correlation_id,
                    content_type=m.content_type or "application/json",
                )
            )
            count_dead_letter(self.queue)
        else:
            log.warning("dropping a dead-lettered message from %r (%s)", self.queue, reason)
        await self.ack()


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
