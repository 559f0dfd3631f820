"""Deliveries assembled where the connection's reader hands a channel its frames, instead of in
the channel's own reader task.

aiormq's connection reader puts every frame of a channel on the channel's `frames` queue; the
channel's reader task takes them off one by one (basic.deliver, then the content header, then
each body frame: three queue hops and task switches per delivery) before it starts the consumer
callback's task. `route_deliveries(channel)` puts a `DeliveryRouter` in the queue's place: a
delivery's frames are collected as they arrive and the complete delivery goes straight to the
channel's consumer callback, in a task as aiormq starts it. Everything else (confirms, returns,
basic.cancel, channel.close, RPC replies) still goes through the queue to aiormq's reader, in
order:
- a basic.deliver is taken here only when the channel is open (aiormq drops frames after its
  close) and nothing the channel has not processed is ahead of it: the frames sent to the queue
  end at a delivery's end, and the queue is empty. A router installed while deliveries are
  queued (the bus routes a channel at its first delivery) lets aiormq's reader catch up for a
  few loop turns, then takes over; deliveries stay in the broker's order either way;
- a frame that does not belong in the delivery being collected (a protocol violation) sends the
  frames collected so far and that frame to the queue, so aiormq's reader fails the channel
  exactly as it would have;
- a delivery cut short (connection lost mid-frame, channel closed) is never handed over: the
  broker requeues it when the channel goes;
- a body longer than its content header declared fails the connection (InvalidFrameError into
  aiormq's connection reader): never handed over, requeued by the broker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiormq
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import InvalidFrameError
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

__all__ = ["DeliveryRouter", "route_deliveries"]

log = logging.getLogger(__name__)
_Deliver = commands.Basic.Deliver
# Methods a content header and body follow.
_CONTENT_METHODS = (commands.Basic.Deliver, commands.Basic.Return, commands.Basic.GetOk)
_CATCH_UP_TURNS = 4


def _on_consumer_done(task: asyncio.Task[Any]) -> None:
    # As aiormq's Channel._on_consumer_done: a failed callback is logged, never raised.
    if not task.cancelled() and task.exception() is not None:
        log.error("Consumer callback failed", exc_info=task.exception())


class DeliveryRouter:
    """Stands in for an aiormq channel's `frames` queue (module docstring)."""

    __slots__ = ("_channel", "_deliver", "_fwd_header", "_fwd_left", "_got", "_header", "_parts", "_queue")

    def __init__(self, channel: aiormq.Channel) -> None:
        self._channel = channel
        self._queue: asyncio.Queue[tuple[int, Any]] = channel.frames
        self._deliver: tuple[int, _Deliver] | None = None
        self._header: tuple[int, ContentHeader] | None = None
        self._parts: list[tuple[int, ContentBody]] = []
        self._got = 0
        # Where the frames sent to aiormq's queue stand: a content header due, body bytes due.
        self._fwd_header = False
        self._fwd_left = 0

    # -- what aiormq's channel reader calls on its queue
    def get(self) -> Any:
        return self._queue.get()

    def task_done(self) -> None:
        self._queue.task_done()

    def qsize(self) -> int:
        return self._queue.qsize()

    def empty(self) -> bool:
        return self._queue.empty()

    # -- what aiormq's connection reader calls
    async def put(self, item: tuple[int, Any]) -> None:
        frame = item[1]
        if self._deliver is None:
            if type(frame) is _Deliver and await self._caught_up():
                self._deliver = item
                return
            await self._forward(item)
            return
        if self._header is None:
            if type(frame) is not ContentHeader:
                await self._give_up(item)
                return
            self._header = item
            if frame.body_size == 0:
                self._hand_over()
            return
        if type(frame) is not ContentBody:
            await self._give_up(item)
            return
        self._parts.append(item)
        self._got += len(frame.value)
        declared = self._header[1].body_size
        if self._got >= declared:
            if self._got > declared:
                # A body its header does not describe is corrupt: fail the connection (raised
                # into aiormq's connection reader), never hand it over; the broker requeues it.
                assert self._deliver is not None
                tag, got = self._deliver[1].delivery_tag, self._got
                self._reset()
                raise InvalidFrameError(f"delivery {tag}: {got} body bytes, its header declared {declared}")
            self._hand_over()

    async def _caught_up(self) -> bool:
        """True if aiormq's reader has processed every frame sent to it, and the channel is open."""
        if self._fwd_header or self._fwd_left > 0:
            return False  # aiormq's reader is in the middle of a delivery's content
        queue = self._queue
        for _ in range(_CATCH_UP_TURNS):
            if queue.empty():
                break
            await asyncio.sleep(0)  # its reader runs in the next turn; it drains without waiting
        return queue.empty() and not self._channel.is_closed

    async def _forward(self, item: tuple[int, Any]) -> None:
        frame = item[1]
        kind = type(frame)
        if kind in _CONTENT_METHODS:
            self._fwd_header = True
        elif kind is ContentHeader and self._fwd_header:
            self._fwd_header = False
            self._fwd_left = frame.body_size
        elif kind is ContentBody:
            self._fwd_left -= len(frame.value)
        await self._queue.put(item)

    def _reset(self) -> None:
        self._deliver = self._header = None
        self._parts = []
        self._got = 0

    async def _give_up(self, item: tuple[int, Any]) -> None:
        held = [self._deliver, self._header, *self._parts]
        self._reset()
        for frame in held:
            if frame is not None:
                await self._forward(frame)
        await self._forward(item)

    def _hand_over(self) -> None:
        assert self._deliver is not None and self._header is not None
        deliver, header = self._deliver[1], self._header[1]
        parts = self._parts
        body = parts[0][1].value if len(parts) == 1 else b"".join(p[1].value for p in parts)
        self._reset()
        channel = self._channel
        if channel.is_closed:
            return  # the broker requeues it with the channel; its tag is void
        consumer = channel.consumers.get(deliver.consumer_tag) if deliver.consumer_tag else None
        if consumer is None:
            return  # as aiormq: a delivery for a consumer cancelled meanwhile is dropped
        message = DeliveredMessage(delivery=deliver, header=header, body=body, channel=channel)
        task = channel.create_task(consumer(message))
        task.add_done_callback(_on_consumer_done)


def route_deliveries(channel: aiormq.abc.AbstractChannel) -> None:
    """Have `channel`'s deliveries assembled by a `DeliveryRouter` (idempotent)."""
    assert isinstance(channel, aiormq.Channel)
    if not isinstance(channel.frames, DeliveryRouter):
        channel.frames = DeliveryRouter(channel)  # type: ignore[assignment]
