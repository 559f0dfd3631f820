"""The worker's lean AMQP path under aio-pika: publishes and settles (acks, nacks) written to the
connection in one write per event-loop turn, confirms tracked on aiormq's own channel, and
deliveries read without aio-pika's `IncomingMessage`.

aio-pika keeps the connection and the channels robust (reconnect, reopen, qos, queue
declarations, consumers: `consume`); this only changes how frames reach the socket:

- `FrameOutbox` (one per aiormq connection): everything added during one loop turn goes to
  aiormq's write queue as one `ChannelFrame` (one socket write, no drain future, no lock) in the
  order added. Frames of a channel that closed meanwhile are dropped: a delivery tag means
  nothing on another channel, and the broker requeued that channel's deliveries itself.
- `ConfirmedPublisher`: a publish's delivery tag is assigned when its frames are taken for the
  write, its confirmation is registered in aiormq's channel (whose reader resolves it on the
  broker's ack, nack or return), and `publish` returns only once the broker confirmed it; a
  nack, a return (mandatory, unroutable) or the channel's close fails exactly that publish.
  It must be the only publisher on its channel (tags are a per-channel sequence).
- `RawDelivery`: a delivery's body and properties as aiormq parsed them; ack and nack go through
  the outbox of the connection the delivery came on, never another channel's.

Contract with aiormq 7.2 (pinned in uv.lock): `Channel.confirmations`, `delivery_tag`,
`message_id_delivery_tag`, `create_future`, `write_queue` and `connection`, as its own
`basic_publish` uses them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import weakref
from collections.abc import Mapping
from typing import Any

import aiormq
from aiormq.abc import ChannelFrame, DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError, DeliveryError, PublishError

from .frames import ack_frame, content_frames, nack_frame, publish_method_frame

__all__ = ["ConfirmedPublisher", "FrameOutbox", "RawDelivery", "channel_closing", "outbox_for"]


def channel_closing(channel: aiormq.abc.AbstractChannel) -> bool:
    """Closed, or closing: aiormq sets its close event when the broker closes the channel,
    before `is_closed`; a frame sent after that on the channel's number is a connection error."""
    if channel.is_closed:
        return True
    event = getattr(channel, "_Channel__close_event", None)
    return bool(event is not None and event.is_set())


class _Publish:
    __slots__ = ("channel", "future", "message_id", "payload")

    def __init__(
        self, channel: aiormq.Channel, payload: bytes, message_id: str, future: asyncio.Future[Any]
    ) -> None:
        self.channel = channel
        self.payload = payload
        self.message_id = message_id
        self.future = future

    def take(self) -> bytes:
        """The frames to write now, with the delivery tag they get; none if nobody waits for
        them any more or their channel is gone (which then fails the publish)."""
        ch, fut = self.channel, self.future
        if fut.done():  # the publisher was cancelled, or the channel's close rejected it
            return b""
        if channel_closing(ch):
            fut.set_exception(ChannelInvalidStateError(f"{ch!r} closed"))
            return b""
        ch.delivery_tag += 1
        ch.confirmations[ch.delivery_tag] = fut
        ch.message_id_delivery_tag[self.message_id] = ch.delivery_tag
        return self.payload


class _Settle:
    __slots__ = ("channel", "payload")

    def __init__(self, channel: aiormq.abc.AbstractChannel, payload: bytes) -> None:
        self.channel = channel
        self.payload = payload

    def take(self) -> bytes:
        return b"" if channel_closing(self.channel) else self.payload


class FrameOutbox:
    """Frames of one aiormq connection, written once per loop turn in the order added."""

    def __init__(self, connection: aiormq.abc.AbstractConnection) -> None:
        self._connection = connection
        self._queue: asyncio.Queue[ChannelFrame] = connection.write_queue
        self._items: list[_Publish | _Settle] = []
        self._scheduled = False
        self._putting: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def add(self, item: _Publish | _Settle) -> None:
        self._items.append(item)
        if not self._scheduled and self._putting is None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        items, self._items = self._items, []
        payload = b"".join([item.take() for item in items])
        if not payload:
            return
        frame = ChannelFrame(payload=payload, should_close=False)
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            # aiormq's write queue is bounded: wait for room, keeping later frames behind this one.
            self._putting = self._loop.create_task(self._put(frame))

    async def _put(self, frame: ChannelFrame) -> None:
        closing = self._connection.closing
        put = asyncio.ensure_future(self._queue.put(frame))
        try:
            # A dead connection's writer never takes it: its publishes fail with the close.
            await asyncio.wait((put, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            put.cancel()
            closing.cancel()
            self._putting = None
            if self._items:
                self._scheduled = True
                self._loop.call_soon(self._flush)


_OUTBOXES: weakref.WeakKeyDictionary[aiormq.abc.AbstractConnection, FrameOutbox] = weakref.WeakKeyDictionary()


def outbox_for(channel: aiormq.abc.AbstractChannel) -> FrameOutbox:
    """The outbox of the connection `channel` belongs to (a reconnect makes a new connection,
    so frames of the old one can never reach the new one's socket)."""
    connection = channel.connection
    outbox = _OUTBOXES.get(connection)
    if outbox is None:
        outbox = _OUTBOXES[connection] = FrameOutbox(connection)
    return outbox


class ConfirmedPublisher:
    """Persistent publishes with publisher confirms, many per write."""

    def __init__(self) -> None:
        # Message ids map a Basic.Return to its publish (aiormq's reader needs one per publish);
        # unique per process and publisher, cheaper than a uuid4 each.
        self._ids = (f"w{os.getpid():x}.{id(self):x}.{n:x}" for n in itertools.count())

    async def publish(
        self,
        channel: aiormq.abc.AbstractChannel,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        mandatory: bool,
        content_type: str | None = None,
        headers: Mapping[str, Any] | None = None,
        delivery_mode: int | None = None,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Return once the broker confirmed the message; raise `DeliveryError` on a nack,
        `PublishError` on a return, `ChannelInvalidStateError` (or the close's reason) if the
        channel closes first. Nothing is resent here: the caller decides."""
        if channel_closing(channel):
            raise ChannelInvalidStateError(f"{channel!r} closed")
        assert isinstance(channel, aiormq.Channel) and channel.publisher_confirms
        mid = message_id or next(self._ids)
        number = channel.number
        payload = publish_method_frame(number, exchange, routing_key, mandatory=mandatory) + content_frames(
            number,
            body,
            max_body_frame=channel.max_content_size,
            message_id=mid,
            content_type=content_type,
            headers=headers,
            delivery_mode=delivery_mode,
            correlation_id=correlation_id,
            reply_to=reply_to,
        )
        future = channel.create_future()
        outbox_for(channel).add(_Publish(channel, payload, mid, future))
        try:
            result = await future
        finally:
            # A return comes before its ack, so the id is not needed once the future is done.
            channel.message_id_delivery_tag.pop(mid, None)
        if isinstance(result, DeliveredMessage):
            # Returned (mandatory and unroutable): the broker then acks it, but nobody got it.
            raise PublishError(result, result.delivery)
        if not isinstance(result, aiormq.spec.Basic.Ack):
            raise DeliveryError(None, result)


class RawDelivery:
    """One delivery as aiormq parsed it; properties read when asked. `ack` and `nack` return
    once the frame is queued for this loop turn's write (nothing to wait for: an ack has no
    reply, and one lost with the connection leaves the delivery to be redelivered)."""

    __slots__ = ("_channel", "_message", "_settled")

    def __init__(self, message: DeliveredMessage) -> None:
        self._message = message
        self._channel = message.channel
        self._settled = False

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._message.header.properties.headers or {}

    @property
    def correlation_id(self) -> str | None:
        return self._message.header.properties.correlation_id

    @property
    def message_id(self) -> str | None:
        return self._message.header.properties.message_id

    @property
    def redelivered(self) -> bool:
        return bool(self._message.redelivered)

    async def ack(self) -> None:
        self._settle(ack_frame(self._channel.number, self._tag()))

    async def nack(self, *, requeue: bool = True) -> None:
        self._settle(nack_frame(self._channel.number, self._tag(), requeue=requeue))

    def _tag(self) -> int:
        tag = self._message.delivery_tag
        assert tag is not None
        return tag

    def _settle(self, payload: bytes) -> None:
        # Settling twice would make the broker close the channel (unknown delivery tag), and with
        # it every other delivery in flight on it; aio-pika refuses it the same way.
        if self._settled:
            raise aiormq.exceptions.AMQPError(f"delivery {self._message.delivery_tag} already settled")
        if channel_closing(self._channel):
            # As aio-pika's IncomingMessage: the broker requeued it when its channel closed.
            raise ChannelInvalidStateError(f"{self._channel!r} closed")
        self._settled = True
        outbox_for(self._channel).add(_Settle(self._channel, payload))
