"""AmqpBus: the bus on RabbitMQ through aio-pika (robust connection, publisher confirms).

Channels, and why:
- one publishing channel with confirms and on_return_raises, so an unroutable mandatory publish
  fails its own confirm; confirms are pipelined (publish_many enqueues them all, then awaits
  each) because awaiting them one by one costs ~7x the throughput. Publishes skip aio-pika and
  aiormq's `basic_publish`: `tidal_amqp.channel_writer.Publisher` appends hand-marshalled frames to the
  channel's one write of the event-loop turn and keeps the confirm future in aiormq's own
  bookkeeping (see that module for why the delivery tags stay right);
- one channel per consumer, so each has its own basic.qos and a refused exclusive consume (403
  closes the channel) or a stale delivery cannot break anybody else. aio-pika consumes and
  restores the consumer after a reconnect; deliveries after the first on each raw channel go
  straight from aiormq to `AmqpConsumer.on_raw`, and acks are frames appended to the channel's
  write of the turn;
- one admin channel for declarations: aio-pika's robust channel records them and replays them
  after a reconnect;
- short-lived raw probe channels for passive checks (queue depth, exchange existence): a 404
  there closes only the probe, not a channel other work is pipelined on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aio_pika
import aiormq
import aiormq.abc
from aio_pika.abc import (
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import (
    ChannelAccessRefused,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)
from tidal_amqp.channel_writer import Publisher, close_shielded
from tidal_amqp.reader import install as install_frame_reader

from ..metrics import BUS_METRICS
from ..telemetry import inject
from ._amqp_consumer import AmqpConsumer
from ._amqp_delivery import AMQP_ERRORS, ReplyDelivery
from ._api import (
    DIRECT_REPLY_TO,
    DLQ_QUEUE,
    DLX_EXCHANGE,
    BusClosedError,
    BusError,
    ConnectionLostError,
    ExchangeKind,
    ExclusiveConsumerError,
    Handler,
    NotFoundError,
    OutMessage,
    PreconditionError,
    QueueSpec,
    QueueStats,
    RequestTimeout,
    UnroutableError,
    check_size,
)


class AmqpBus:
    def __init__(
        self, url: str, *, connection_name: str = "tidal", max_message_bytes: int | None = None
    ) -> None:
        self._url = url
        self._max_message_bytes = max_message_bytes
        self._connection_name = connection_name
        self._conn: AbstractRobustConnection | None = None
        self._pub: AbstractRobustChannel | None = None
        self._admin: AbstractRobustChannel | None = None
        self._exchanges: set[str] = {""}  # names known to exist (the default exchange always does)
        self._publisher: Publisher | None = None
        self._specs: dict[str, QueueSpec] = {}
        self._consumers: set[AmqpConsumer] = set()
        self._replies: dict[str, asyncio.Future[ReplyDelivery]] = {}
        self._reply_on: object | None = None  # the raw channel the reply-to consumer lives on
        self._reply_setup: asyncio.Future[None] | None = None
        self._reply_setup_on: object | None = None
        self._closed = False
        self._watchers: list[tuple[Callable[[], None], Callable[[], None]]] = []

    # --- lifecycle -----------------------------------------------------------------------------
    async def connect(self) -> None:
        self._closed = False
        # aio-pika waits 5 s between reconnect attempts by default; a broker restart or network
        # blip should stall the engine for about a second, not five. A URL parameter still wins.
        extra: dict[str, Any] = {} if "reconnect_interval" in self._url else {"reconnect_interval": 1}
        install_frame_reader()  # every aiormq connection reads its socket in chunks (tidal_amqp.reader)
        self._conn = await aio_pika.connect_robust(
            self._url, client_properties={"connection_name": self._connection_name}, **extra
        )
        self._conn.close_callbacks.add(self._lost)
        self._conn.reconnect_callbacks.add(self._restored)
        self._pub = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
        self._admin = await self._conn.channel(publisher_confirms=False)
        await self.declare_exchange(DLX_EXCHANGE, "fanout")
        await self.declare_queue(QueueSpec(name=DLQ_QUEUE, bindings=[(DLX_EXCHANGE, "")], dead_letter=False))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._consumers):
            await consumer.cancel()
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(BusClosedError("bus closed"))
        if self._conn is not None:
            await self._conn.close()
        self._conn = self._pub = self._admin = None
        self._publisher = None
        self._exchanges = {""}
        self._reply_on = self._reply_setup = self._reply_setup_on = None

    def watch_connection(self, on_lost: Callable[[], None], on_restored: Callable[[], None]) -> None:
        self._watchers.append((on_lost, on_restored))

    def _lost(self, *_: Any) -> None:
        if self._closed:
            return
        for on_lost, _restored in self._watchers:
            _call_quietly(on_lost)

    def _restored(self, *_: Any) -> None:
        for _lost, on_restored in self._watchers:
            _call_quietly(on_restored)

    def _connection(self) -> AbstractRobustConnection:
        if self._closed or self._conn is None:
            raise BusClosedError("bus is not connected")
        return self._conn

    def _error(self, exc: BaseException) -> BusError:
        """Translate an aio-pika/aiormq failure into the bus's own errors."""
        if isinstance(exc, PublishError):
            return UnroutableError(str(exc))
        if isinstance(exc, ChannelNotFoundEntity):
            return NotFoundError(str(exc))
        if isinstance(exc, ChannelPreconditionFailed):
            return PreconditionError(str(exc))
        if isinstance(exc, DeliveryError):
            return BusError(f"broker refused the message: {exc}")
        if self._closed:
            return BusClosedError("bus closed")
        return ConnectionLostError(f"{type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def _raw_channel(self) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A throwaway raw channel for operations that may fail with a channel error: the error
        closes only this channel, not one other work is pipelined on."""
        transport = self._connection().transport
        if transport is None:
            raise ConnectionLostError("not connected (reconnecting)")
        try:
            ch = await transport.connection.channel(publisher_confirms=False)
            try:
                yield ch
            finally:
                if not ch.is_closed:
                    await close_shielded(ch)
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc

    async def _probe(self, name: str, *, exchange: bool) -> int:
        """Passive declare; returns the ready count for queues."""
        async with self._raw_channel() as ch:
            if exchange:
                await ch.exchange_declare(name, passive=True)
                return 0
            ok = await ch.queue_declare(name, passive=True)
            return ok.message_count or 0

    # --- topology ------------------------------------------------------------------------------
    # Each declaration runs twice: first on a raw channel, where a conflict (406) or a missing
    # exchange (404) only closes that channel, then on the robust admin channel, which records it
    # and replays it after a reconnect.
    async def declare_exchange(self, name: str, kind: ExchangeKind = "direct") -> None:
        async with self._raw_channel() as ch:
            await ch.exchange_declare(name, exchange_type=kind, durable=True)
        assert self._admin is not None
        try:
            await self._admin.declare_exchange(name, aio_pika.ExchangeType(kind), durable=True)
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc

    async def declare_queue(self, spec: QueueSpec) -> None:
        args: dict[str, Any] = {}
        if spec.dead_letter:  # so nack(requeue=False) and broker-side drops reach the DLQ too
            args["x-dead-letter-exchange"] = DLX_EXCHANGE
        if spec.max_priority:
            args["x-max-priority"] = spec.max_priority
        if spec.single_active_consumer:
            args["x-single-active-consumer"] = True
        async with self._raw_channel() as ch:
            await ch.queue_declare(
                spec.name, durable=spec.durable, auto_delete=spec.auto_delete, arguments=args or None
            )
            for exchange, key in spec.bindings:
                await ch.queue_bind(spec.name, exchange, routing_key=key)
        assert self._admin is not None
        try:
            queue = await self._admin.declare_queue(
                spec.name, durable=spec.durable, auto_delete=spec.auto_delete, arguments=args or None
            )
            for exchange, key in spec.bindings:
                await queue.bind(exchange, key)
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc
        self._specs[spec.name] = spec

    async def delete_queue(self, name: str) -> None:
        self._connection()
        assert self._admin is not None
        # Cancel our own consumers first: a broker-side basic.cancel makes aio-pika recover the
        # whole connection.
        for consumer in [c for c in self._consumers if c.queue == name]:
            await consumer.cancel()
        try:
            await self._admin.queue_delete(name)
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc
        self._specs.pop(name, None)

    async def queue_depth(self, name: str) -> int:
        return await self._probe(name, exchange=False)

    async def queue_stats(self, name: str) -> QueueStats:
        async with self._raw_channel() as ch:
            ok = await ch.queue_declare(name, passive=True)
            return QueueStats(messages=ok.message_count or 0, consumers=ok.consumer_count or 0)

    # --- publishing ----------------------------------------------------------------------------
    async def publish(self, message: OutMessage) -> None:
        confirmation = await self._enqueue(message)
        try:
            await confirmation
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc
        BUS_METRICS.published(message.exchange)

    async def publish_many(self, messages: Sequence[OutMessage]) -> None:
        # Every publish goes into this turn's one write before any confirm is awaited; each is
        # still confirmed on its own, and the first failure is raised once all have settled.
        confirmations: list[asyncio.Future[Any]] = []
        first: BaseException | None = None
        try:
            for message in messages:
                try:
                    confirmations.append(await self._enqueue(message))
                except (BusError, ValueError) as exc:  # too big, unknown exchange, bad key: others go
                    first = first or exc
            for message, confirmation in zip(messages, confirmations, strict=False):
                try:
                    await confirmation
                except AMQP_ERRORS as exc:
                    first = first or self._error(exc)
                else:
                    BUS_METRICS.published(message.exchange)
        except BaseException:
            for confirmation in confirmations:
                confirmation.cancel()  # a cancelled caller: nobody reads these any more
            raise
        if first is not None:
            raise first

    async def _enqueue(self, message: OutMessage) -> asyncio.Future[Any]:
        """Append one publish to the publishing channel's write of this turn; returns its confirm."""
        check_size(message, self._max_message_bytes)
        if message.exchange not in self._exchanges:
            await self._exchange(message.exchange)
        publisher = self._publisher
        if publisher is None or publisher.channel.is_closed:
            publisher = await self._current_publisher()
        if message.mandatory and message.message_id is not None:
            # The broker's return names its publish only by message id: a second publish with the
            # same id in flight would take the first's return (the returned one then reported
            # confirmed). Such a publish waits for the first's confirm.
            while (earlier := publisher.in_flight(message.message_id)) is not None:
                await asyncio.wait([earlier])
                publisher = await self._current_publisher()
        try:
            return publisher.publish(
                exchange=message.exchange,
                routing_key=message.routing_key,
                body=message.body,
                mandatory=message.mandatory,
                headers=inject(message.headers),
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                reply_to=message.reply_to,
                priority=message.priority,
                content_type=message.content_type,
            )
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc

    async def _current_publisher(self) -> Publisher:
        self._connection()
        pub = self._pub
        assert pub is not None
        try:
            if pub.is_closed:
                # Reconnecting: wait for the robust channel (the caller bounds the wait if it must).
                await pub.ready()
            raw = await pub.get_underlay_channel()
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc
        assert isinstance(raw, aiormq.Channel)
        if self._publisher is None or self._publisher.channel is not raw:
            self._publisher = Publisher(raw)
        return self._publisher

    async def _exchange(self, name: str) -> None:
        # Publishing to a missing exchange is a channel error that would also fail every publish
        # pipelined with it, so check existence once per name, on a probe channel.
        self._connection()
        await self._probe(name, exchange=True)
        self._exchanges.add(name)

    # --- consuming -----------------------------------------------------------------------------
    async def consume(
        self, queue: str, handler: Handler, *, prefetch: int = 100, exclusive: bool = False
    ) -> AmqpConsumer:
        conn = self._connection()
        channel: AbstractRobustChannel = await conn.channel(publisher_confirms=False)
        consumer = AmqpConsumer(self, channel, queue, handler)
        try:
            await channel.set_qos(prefetch_count=prefetch)
            # Passive declare on the consumer's own channel registers the queue with the robust
            # channel, which then re-consumes it after a reconnect.
            amqp_queue = await channel.declare_queue(queue, passive=True)
            await amqp_queue.consume(consumer.on_message, exclusive=exclusive)
        except AMQP_ERRORS as exc:
            await consumer.close_channel()
            if isinstance(exc, ChannelAccessRefused):
                raise ExclusiveConsumerError(f"queue {queue!r} is in exclusive use") from exc
            raise self._error(exc) from exc
        self._consumers.add(consumer)
        return consumer

    # --- request / reply -----------------------------------------------------------------------
    async def request(self, message: OutMessage, *, timeout: float) -> ReplyDelivery:
        correlation_id = message.correlation_id or uuid.uuid4().hex
        fut: asyncio.Future[ReplyDelivery] = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = fut
        try:
            async with asyncio.timeout(timeout):
                await self._ensure_reply_consumer()
                await self.publish(
                    dataclasses.replace(message, correlation_id=correlation_id, reply_to=DIRECT_REPLY_TO)
                )
                return await fut
        except TimeoutError:
            raise RequestTimeout(f"no reply to {message.routing_key!r} within {timeout}s") from None
        finally:
            self._replies.pop(correlation_id, None)

    async def _ensure_reply_consumer(self) -> None:
        """Direct reply-to needs a no-ack consumer on the channel the requests are published on;
        after a reconnect the publishing channel is a new raw channel, so consume again."""
        self._connection()
        assert self._pub is not None
        raw = await self._pub.get_underlay_channel()
        if raw is self._reply_on:
            return
        setup = self._reply_setup
        if setup is None or setup.done() or self._reply_setup_on is not raw:
            # One setup per raw channel, shared by every requester and shielded from their
            # cancellation: a cancelled basic.consume RPC makes aiormq close its channel, and this
            # one is the publishing channel every publish in flight is on.
            setup = self._reply_setup = asyncio.ensure_future(self._consume_replies(raw))
            setup.add_done_callback(_retrieve)
            self._reply_setup_on = raw
        await asyncio.shield(setup)

    async def _consume_replies(self, raw: aiormq.abc.AbstractChannel) -> None:
        try:
            await raw.basic_consume(DIRECT_REPLY_TO, self._on_reply, no_ack=True)
        except AMQP_ERRORS as exc:
            raise self._error(exc) from exc
        self._reply_on = raw

    async def _on_reply(self, raw: DeliveredMessage) -> None:
        props = raw.header.properties
        fut = self._replies.get(props.correlation_id or "")
        if fut is not None and not fut.done():
            fut.set_result(ReplyDelivery(raw))
        # else: the requester timed out; the late reply is dropped.


def _retrieve(fut: asyncio.Future[None]) -> None:
    """Read a shielded setup's outcome, so a failure nobody awaited any more is not logged."""
    if not fut.cancelled():
        fut.exception()


def _call_quietly(callback: Callable[[], None]) -> None:
    # Inside aio-pika's (re)connection: a watcher's failure must not break the reconnect.
    try:
        callback()
    except Exception:
        logging.getLogger("tidal.bus").exception("connection watcher failed")
