"""The server bus's lean writes on one aiormq channel: the frames the channel sends in one
event-loop turn go to the connection's writer as one chunk, and publisher confirms are tracked
without aiormq's per-publish lock, timeout scope, drain future and future store.

Why it is safe to bypass `Channel.basic_publish` on the publishing channel:
- delivery tags are the channel's own counter (`channel.delivery_tag`), taken in the order the
  frames are appended, and the appended frames reach the write queue in that order (one chunk
  per turn, or a queue of chunks behind a full write queue), so tag n is the n-th publish the
  broker sees on the channel. Nothing else publishes on this channel (AmqpBus owns it).
- the confirm futures sit in `channel.confirmations`, where aiormq's reader resolves them on
  basic.ack / basic.nack (multiple or not) and fails a returned mandatory publish with
  PublishError (found by message id in `channel.message_id_delivery_tag`, as aiormq does).
- when the channel closes (channel error, connection loss, broker restart), every confirm still
  pending fails with the close reason and the frames not yet handed to the writer are dropped:
  nothing is reported confirmed unless the broker acked it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

import aiormq
import aiormq.abc
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError

from .frames import content_frames, publish_method_frame

__all__ = ["ChannelWriter", "Publisher", "close_shielded", "closing"]

_PERSISTENT = 2


_CLOSE_EVENT = "_Channel__close_event"  # aiormq's: set once a close handshake is under way


def closing(channel: aiormq.abc.AbstractChannel) -> bool:
    """True once the channel's close has begun, not only once it is closed: aiormq answers the
    broker's channel.close with close-ok at once but marks the channel closed turns later, and
    a frame written in between reaches a broker that freed the number (504 CHANNEL_ERROR closes
    the whole connection). The same after aiormq began a close of its own (a cancelled RPC)."""
    if channel.is_closed or getattr(channel, "_close_exception", None) is not None:
        return True
    event = getattr(channel, _CLOSE_EVENT, None)
    return event is not None and event.is_set()


async def close_shielded(channel: Any) -> None:
    """Close a channel (aiormq's or aio-pika's) to its close-ok even if the caller is cancelled
    (the caller still gets its CancelledError). aiormq answers a cancelled Channel.Close RPC by
    sending a second channel.close: a frame on a channel whose close has begun, which a broker
    that freed the number meanwhile answers with 504 CHANNEL_ERROR, closing the connection. A
    consumer channel's close cancels the handler tasks still running on it, so a handler in the
    middle of a probe channel's close (a dead letter's first publish to the DLX) hit this."""
    close = asyncio.ensure_future(channel.close())
    close.add_done_callback(_retrieve)
    await asyncio.shield(close)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class ChannelWriter:
    """Coalesces the frames one channel sends in one event-loop turn into one write-queue put.
    Frames appended after the channel closed, or still buffered when it closes, are dropped:
    a frame sent on a closed channel's number would be a connection error."""

    __slots__ = ("_buf", "_channel", "_loop", "_scheduled", "_shut", "_task")

    def __init__(self, channel: aiormq.Channel) -> None:
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        self._buf: list[bytes] = []
        self._scheduled = False
        self._task: asyncio.Task[None] | None = None  # a put waiting on a full write queue
        self._shut = False

    def send(self, frames: bytes) -> None:
        if self._shut:
            # The channel is closing: a frame behind its channel.close would reach a broker that
            # has freed the number (504 CHANNEL_ERROR closes the whole connection). An ack lost
            # here is a redelivery; a publish's confirm fails with the channel.
            return
        self._buf.append(frames)
        if not self._scheduled and self._task is None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _take(self) -> ChannelFrame | None:
        if self._shut or closing(self._channel):
            self._buf.clear()
            return None
        payload = b"".join(self._buf)
        self._buf.clear()
        return ChannelFrame(payload=payload, should_close=False)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._buf or self._task is not None:
            return
        frame = self._take()
        if frame is None:
            return
        try:
            self._channel.write_queue.put_nowait(frame)
        except asyncio.QueueFull:
            # The connection's write queue is bounded (aiormq's FRAME_BUFFER_SIZE): wait in one
            # task; what is appended meanwhile queues behind it, keeping the delivery-tag order.
            self._task = self._loop.create_task(self._put_in_order(frame))

    async def _put_in_order(self, frame: ChannelFrame | None) -> None:
        try:
            while frame is not None:
                await self._channel.write_queue.put(frame)
                frame = self._take() if self._buf else None
        finally:
            self._task = None

    async def drain(self) -> None:
        """Hand what is buffered to the write queue now, ahead of a frame the caller is about to
        send the ordinary way (a channel.close must not overtake the acks before it)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        frame = self._take() if self._buf else None
        if frame is not None:
            await self._channel.write_queue.put(frame)

    @property
    def channel(self) -> aiormq.Channel:
        return self._channel

    def close(self) -> None:
        """Drop what is buffered and every later frame (call it before closing the channel)."""
        self._shut = True
        self._buf.clear()
        if self._task is not None:
            self._task.cancel()


class Publisher:
    """Confirmed publishes on one raw channel (opened with publisher confirms and
    on_return_raises). One per underlay channel: a reconnect opens a new one."""

    __slots__ = ("_number", "_writer", "channel")

    def __init__(self, channel: aiormq.Channel) -> None:
        self.channel = channel
        self._number = channel.number
        self._writer = ChannelWriter(channel)
        channel.closing.add_done_callback(self._on_close)

    def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        body: bytes,
        mandatory: bool,
        headers: Mapping[str, Any] | None,
        message_id: str | None,
        correlation_id: str | None,
        reply_to: str | None,
        priority: int | None,
        content_type: str | None,
    ) -> asyncio.Future[Any]:
        """Append one persistent publish to this turn's write; the future resolves on the
        broker's ack and fails on a nack (DeliveryError), a return (PublishError) or the
        channel's close."""
        ch = self.channel
        if closing(ch):
            raise ChannelInvalidStateError(f"{ch!r} closed or closing")
        number = self._number
        method = publish_method_frame(number, exchange, routing_key, mandatory=mandatory)
        if message_id is None:  # aiormq always sets one; a returned publish is found by it
            message_id = f"{random.getrandbits(128):032x}"
        frames = method + content_frames(
            number,
            body,
            max_body_frame=ch.max_content_size,
            message_id=message_id,
            content_type=content_type,
            headers=headers,
            delivery_mode=_PERSISTENT,
            priority=priority,
            correlation_id=correlation_id,
            reply_to=reply_to,
        )

        ch.delivery_tag += 1
        tag = ch.delivery_tag
        confirmation: asyncio.Future[Any] = self._writer._loop.create_future()
        ch.confirmations[tag] = confirmation
        if mandatory:
            by_id = ch.message_id_delivery_tag
            by_id[message_id] = tag

            def forget(_: asyncio.Future[Any], mid: str = message_id) -> None:
                if by_id.get(mid) == tag:
                    del by_id[mid]

            confirmation.add_done_callback(forget)
        self._writer.send(frames)
        return confirmation

    def in_flight(self, message_id: str) -> asyncio.Future[Any] | None:
        """The confirm of a mandatory publish with this message id still in flight here, if any."""
        tag = self.channel.message_id_delivery_tag.get(message_id)
        confirmation = None if tag is None else self.channel.confirmations.get(tag)
        if isinstance(confirmation, asyncio.Future) and not confirmation.done():
            return confirmation
        return None

    def _on_close(self, closing: asyncio.Future[Any]) -> None:
        self._writer.close()
        cause = None if closing.cancelled() else closing.exception()
        for confirmation in list(self.channel.confirmations.values()):
            if isinstance(confirmation, asyncio.Future) and not confirmation.done():
                lost = ChannelInvalidStateError(f"channel {self._number} closed before the confirm")
                lost.__cause__ = cause
                confirmation.set_exception(lost)
