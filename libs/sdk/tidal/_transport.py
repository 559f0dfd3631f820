"""How a worker reaches its task queues and the history shards.

Two implementations satisfy `WorkerTransport`: `AmqpTransport` (RabbitMQ, production) and the
embedded server's in-memory adapter (supplied by `tidal.testing` / `tidal-server dev`), which
matches this protocol structurally so the SDK never imports server code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.abc import DeliveredMessage
from opentelemetry import propagate
from tidal_amqp.consume import LeanConnection, LeanConsumer
from tidal_amqp.outbox import ConfirmedPublisher, RawDelivery
from tidal_amqp.reader import install as install_frame_reader
from tidal_schema import names
from tidal_schema.limits import MESSAGE_MAX_BYTES


class TaskDelivery(Protocol):
    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, Any]:
        """Message headers; `traceparent` (W3C trace context) is the one the worker reads."""
        ...

    @property
    def correlation_id(self) -> str | None: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool = True) -> None: ...

    async def dead_letter(self, reason: str) -> None:
        """Park a copy in the dead-letter queue with `reason` in its headers, then ack."""
        ...


TaskHandler = Callable[[TaskDelivery], Awaitable[None]]


class TaskConsumer(Protocol):
    async def cancel(self) -> None: ...


class WorkerTransport(Protocol):
    max_message_bytes: int
    """The largest body the server's bus takes (a worker reports a larger completion as failed)."""

    async def declare_task_queue(self, name: str, *, sticky: bool) -> None: ...

    async def consume(self, queue: str, handler: TaskHandler, *, prefetch: int) -> TaskConsumer: ...

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish with the current trace context in the message headers. `correlation_id`
        marks a reply (to a frontend's reply-to address): published non-mandatory, since a
        requester that gave up is not an error; `reply_to` asks history to answer there."""
        ...

    async def publish_notice(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish a best-effort notice (a rate declaration) where its failure cannot touch the
        completions: a publish to an exchange that does not exist yet closes the channel it went
        through."""
        ...

    async def close(self) -> None: ...


# Header names shared with the server's bus (tidal_server.bus), which the SDK does not import.
_H_DL_REASON = "x-tidal-dead-letter-reason"
_H_DL_QUEUE = "x-tidal-original-queue"
_PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


class _AmqpDelivery:
    __slots__ = ("_msg", "_queue", "_transport")

    def __init__(self, msg: AbstractIncomingMessage, transport: AmqpTransport, queue: str) -> None:
        self._msg = msg
        self._transport = transport
        self._queue = queue

    @property
    def body(self) -> bytes:
        return self._msg.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._msg.headers or {}

    @property
    def correlation_id(self) -> str | None:
        return self._msg.correlation_id

    async def ack(self) -> None:
        await self._msg.ack()

    async def nack(self, *, requeue: bool = True) -> None:
        await self._msg.nack(requeue=requeue)

    async def dead_letter(self, reason: str) -> None:
        headers = {**(self._msg.headers or {}), _H_DL_REASON: reason[:1000], _H_DL_QUEUE: self._queue}
        try:
            await self._transport.publish_raw(
                names.DEAD_LETTER_EXCHANGE,
                "",
                self._msg.body,
                headers,
                # The copy keeps the ids a publisher tracks its message by.
                message_id=self._msg.message_id,
                correlation_id=self._msg.correlation_id,
            )
        except Exception:
            # Still never requeued: the queue's own dead-letter exchange takes it, without the reason.
            await self._msg.nack(requeue=False)
            return
        await self._msg.ack()


class _LeanDelivery(RawDelivery):
    """A task delivered through the lean path (`tidal_amqp.consume`)."""

    __slots__ = ("_queue", "_transport")

    def __init__(self, message: DeliveredMessage, transport: AmqpTransport, queue: str) -> None:
        super().__init__(message)
        self._transport = transport
        self._queue = queue

    async def dead_letter(self, reason: str) -> None:
        headers = {**self.headers, _H_DL_REASON: reason[:1000], _H_DL_QUEUE: self._queue}
        try:
            await self._transport.publish_raw(
                names.DEAD_LETTER_EXCHANGE,
                "",
                self.body,
                headers,
                message_id=self.message_id,
                correlation_id=self.correlation_id,
            )
        except Exception:
            await self.nack(requeue=False)
            return
        await self.ack()


class _AmqpConsumer:
    def __init__(self, channel: AbstractChannel, queue: aio_pika.abc.AbstractQueue, tag: str) -> None:
        self._channel = channel
        self._queue = queue
        self._tag = tag

    async def cancel(self) -> None:
        if not self._channel.is_closed:
            await self._queue.cancel(self._tag)
            await self._channel.close()


class AmqpTransport:
    def __init__(
        self, url: str, *, connection_name: str = "tidal-worker", max_message_bytes: int = MESSAGE_MAX_BYTES
    ) -> None:
        self._url = url
        self.max_message_bytes = max_message_bytes
        self._name = connection_name
        self._conn: AbstractRobustConnection | None = None
        self._pub: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._publisher = ConfirmedPublisher()
        # Queues that live and die with this connection (sticky, activity control).
        self._exclusive: set[str] = set()

    async def _connection(self) -> AbstractRobustConnection:
        async with self._lock:
            if self._conn is None:
                install_frame_reader()  # chunked socket reads for every aiormq connection
                self._conn = await aio_pika.connect_robust(
                    self._url,
                    client_properties={"connection_name": self._name},
                    connection_class=LeanConnection,
                )
                self._pub = await self._conn.channel(publisher_confirms=True)
            return self._conn

    async def declare_task_queue(self, name: str, *, sticky: bool) -> None:
        conn = await self._connection()
        async with conn.channel() as ch:
            if sticky:
                # Gone with the worker's connection: matching then falls back to the shared queue.
                self._exclusive.add(name)
                await ch.declare_queue(name, durable=False, exclusive=True, auto_delete=True)
            else:
                await ch.declare_queue(
                    name,
                    durable=True,
                    arguments={
                        "x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE,
                        "x-max-priority": names.TASK_QUEUE_MAX_PRIORITY,
                    },
                )

    async def consume(self, queue: str, handler: TaskHandler, *, prefetch: int) -> TaskConsumer:
        conn = await self._connection()
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=prefetch)
        # Declared on the consuming robust channel, so that after a reconnect (a broker restart, a
        # cut connection) aio-pika declares it again and restores the consumer. A queue object from
        # get_queue(ensure=False) is not tracked: its consumer silently never came back.
        if queue in self._exclusive:
            q = await channel.declare_queue(queue, durable=False, exclusive=True, auto_delete=True)
        else:
            q = await channel.declare_queue(queue, passive=True)

        async def on_raw(msg: DeliveredMessage) -> None:
            await handler(_LeanDelivery(msg, self, queue))

        async def on_incoming(msg: AbstractIncomingMessage) -> None:
            # Only a consumer aio-pika restored after the broker cancelled it comes this way.
            await handler(_AmqpDelivery(msg, self, queue))

        tag = await q.consume(LeanConsumer(on_raw=on_raw, on_incoming=on_incoming))
        return _AmqpConsumer(channel, q, tag)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        pub = self._pub if self._conn is not None else None
        if pub is None:
            await self._connection()
            pub = self._pub
        assert pub is not None
        if pub.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError(f"{pub!r} closed")
        headers: dict[str, Any] = {}
        propagate.inject(headers)
        # The lean path (`tidal_amqp.outbox`): frames marshalled directly and written with whatever else
        # this loop turn publishes or settles; the confirm is awaited as before.
        await self._publisher.publish(
            await pub.get_underlay_channel(),
            exchange,
            routing_key,
            body,
            mandatory=correlation_id is None,
            content_type="application/json",
            delivery_mode=_PERSISTENT,
            headers=headers,
            reply_to=reply_to,
            correlation_id=correlation_id,
        )

    async def publish_notice(self, exchange: str, routing_key: str, body: bytes) -> None:
        conn = await self._connection()
        async with conn.channel(publisher_confirms=False) as ch:
            ex = await ch.get_exchange(exchange, ensure=False)
            await ex.publish(aio_pika.Message(body, content_type="application/json"), routing_key=routing_key)

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: Mapping[str, Any],
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish with the given headers and ids as they are (a dead-lettered copy)."""
        await self._connection()
        assert self._pub is not None
        # Through the same publisher: it must be the only one assigning this channel's tags.
        await self._publisher.publish(
            await self._pub.get_underlay_channel(),
            exchange,
            routing_key,
            body,
            mandatory=True,
            headers=headers,
            delivery_mode=_PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
        )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
