"""InMemoryBus: the broker inside the process, for the embedded dev mode and unit tests.

It is the embedded mode's hot path, so: a message is the caller's frozen OutMessage, shared (not
copied) by every queue it is routed to; routes are cached per (exchange, routing key); dispatch is
coalesced into one loop.call_soon per queue, and handlers always run in their own task, so a
handler that publishes (even to its own queue) can never re-enter the dispatcher or deadlock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..metrics import BUS_METRICS
from ..telemetry import inject
from ._api import (
    DIRECT_REPLY_TO,
    DLQ_QUEUE,
    DLX_EXCHANGE,
    BusClosedError,
    ExchangeKind,
    ExclusiveConsumerError,
    Handler,
    MessageTooLargeError,
    NotFoundError,
    OutMessage,
    PreconditionError,
    QueueSpec,
    QueueStats,
    RequestTimeout,
    UnroutableError,
    check_size,
    count_dead_letter,
    dead_letter_headers,
    log,
    run_handler,
)
from ._memstate import Exchange, MemQueue


class _MemDelivery:
    __slots__ = ("_bus", "_consumer", "_msg", "_q", "_settled", "redelivered")

    def __init__(
        self, bus: InMemoryBus, q: MemQueue | None, consumer: _MemConsumer | None, msg: OutMessage, redo: bool
    ) -> None:
        self._bus = bus
        self._q = q
        self._consumer = consumer  # None: a no-ack delivery (request replies); settling is a no-op
        self._msg = msg
        self._settled = consumer is None
        self.redelivered = redo

    @property
    def body(self) -> bytes:
        return self._msg.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._msg.headers

    @property
    def routing_key(self) -> str:
        return self._msg.routing_key

    @property
    def exchange(self) -> str:
        return self._msg.exchange

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
    def queue(self) -> str:
        return self._q.spec.name if self._q is not None else DIRECT_REPLY_TO

    @property
    def decoded(self) -> object | None:
        """The publisher's validated model (handover.py), on the first delivery only: after a
        requeue the consumer reads the bytes, so nothing a consumer held is handed on."""
        return None if self.redelivered else self._msg.decoded

    @property
    def settled(self) -> bool:
        return self._settled

    def _release(self) -> bool:
        """Take the delivery out of its consumer's unacked set; False if already settled."""
        if self._settled:
            return False
        consumer = self._consumer
        assert consumer is not None
        if not consumer.active:
            raise BusClosedError("consumer cancelled; the delivery was requeued")
        self._settled = True
        del consumer.unacked[self]
        return True

    async def ack(self) -> None:
        if self._release():
            self._bus._schedule(self._consumer.queue)  # type: ignore[union-attr]

    async def nack(self, *, requeue: bool = True) -> None:
        if not self._release():
            return
        q = self._consumer.queue  # type: ignore[union-attr]
        if requeue:
            q.push((self._msg, True), front=True)
        elif q.spec.dead_letter:
            # What RabbitMQ's queue-level dead-letter exchange does on reject.
            headers = dict(self._msg.headers)
            headers.update({"x-first-death-queue": q.spec.name, "x-first-death-reason": "rejected"})
            self._bus._park(self._msg, headers)
        self._bus._schedule(q)

    async def dead_letter(self, reason: str) -> None:
        if self._settled:
            return
        q = self._consumer.queue  # type: ignore[union-attr]
        if q.spec.dead_letter:
            m = self._msg
            self._bus._park(m, dead_letter_headers(m.headers, reason, q.spec.name, m.exchange, m.routing_key))
            count_dead_letter(q.spec.name)
        else:
            log.warning("dropping a dead-lettered message from %r (%s)", q.spec.name, reason)
        await self.ack()


class _MemConsumer:
    __slots__ = ("active", "bus", "handler", "prefetch", "queue", "tasks", "unacked")

    def __init__(self, bus: InMemoryBus, queue: MemQueue, handler: Handler, prefetch: int) -> None:
        self.bus = bus
        self.queue = queue
        self.handler = handler
        self.prefetch = prefetch
        self.active = True
        self.unacked: dict[_MemDelivery, None] = {}  # ordered set: requeue keeps delivery order
        self.tasks: set[asyncio.Task[None]] = set()

    def has_room(self) -> bool:
        return self.prefetch <= 0 or len(self.unacked) < self.prefetch

    async def cancel(self) -> None:
        if not self.active:
            return
        self.active = False
        q = self.queue
        q.consumers.remove(self)
        q.exclusive = False
        for d in reversed(self.unacked):
            q.push((d._msg, True), front=True)
        self.unacked.clear()
        # Like closing an AMQP consumer channel: in-flight handlers are cancelled too.
        for task in list(self.tasks):
            task.cancel()
        if q.spec.auto_delete and not q.consumers:
            self.bus._drop_queue(q.spec.name)
        else:
            self.bus._schedule(q)


class InMemoryBus:
    def __init__(self, *, max_message_bytes: int | None = None) -> None:
        # Stands in for the broker's max_message_size, so the embedded mode refuses what
        # RabbitMQ would.
        self._max_message_bytes = max_message_bytes
        self._exchanges: dict[str, Exchange] = {}
        self._queues: dict[str, MemQueue] = {}
        self._replies: dict[str, asyncio.Future[_MemDelivery]] = {}
        self._reply_addr = f"{DIRECT_REPLY_TO}.{uuid.uuid4().hex}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # --- lifecycle and topology -------------------------------------------------------------
    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closed = False
        await self.declare_exchange(DLX_EXCHANGE, "fanout")
        await self.declare_queue(QueueSpec(name=DLQ_QUEUE, bindings=[(DLX_EXCHANGE, "")], dead_letter=False))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for q in list(self._queues.values()):
            for c in list(q.consumers):
                await c.cancel()
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(BusClosedError("bus closed"))
        self._replies.clear()

    def _check(self) -> asyncio.AbstractEventLoop:
        if self._closed or self._loop is None:
            raise BusClosedError("bus is not connected")
        return self._loop

    async def declare_exchange(self, name: str, kind: ExchangeKind = "direct") -> None:
        self._check()
        ex = self._exchanges.get(name)
        if ex is None:
            self._exchanges[name] = Exchange(name, kind)
        elif ex.kind != kind:
            raise PreconditionError(f"exchange {name!r} exists with type {ex.kind!r}, not {kind!r}")

    async def declare_queue(self, spec: QueueSpec) -> None:
        self._check()
        for ex_name, _ in spec.bindings:
            if ex_name not in self._exchanges:
                raise NotFoundError(f"no exchange {ex_name!r}")
        q = self._queues.get(spec.name)
        if q is None:
            self._queues[spec.name] = MemQueue(spec)
        elif _props(q.spec) != _props(spec):
            raise PreconditionError(f"queue {spec.name!r} exists with different properties")
        for ex_name, key in spec.bindings:  # bindings are additive, as in AMQP
            ex = self._exchanges[ex_name]
            ex.bindings[(spec.name, key)] = None
            ex.cache.clear()

    async def delete_queue(self, name: str) -> None:
        self._check()
        q = self._queues.get(name)
        if q is None:
            return
        for c in list(q.consumers):
            await c.cancel()
        self._drop_queue(name)

    def _drop_queue(self, name: str) -> None:
        q = self._queues.pop(name, None)
        if q is None:
            return
        q.deleted = True
        for ex in self._exchanges.values():
            stale = [b for b in ex.bindings if b[0] == name]
            for b in stale:
                del ex.bindings[b]
            if stale:
                ex.cache.clear()

    async def queue_depth(self, name: str) -> int:
        self._check()
        q = self._queues.get(name)
        if q is None:
            raise NotFoundError(f"no queue {name!r}")
        return q.depth()

    async def queue_stats(self, name: str) -> QueueStats:
        self._check()
        q = self._queues.get(name)
        if q is None:
            raise NotFoundError(f"no queue {name!r}")
        return QueueStats(messages=q.depth(), consumers=len(q.consumers))

    # --- publishing ----------------------------------------------------------------------------
    async def publish(self, message: OutMessage) -> None:
        self._check()
        check_size(message, self._max_message_bytes)
        self._route(message)
        # Stand-in for the confirm round trip: a publishing loop must let consumers run.
        await asyncio.sleep(0)

    async def publish_many(self, messages: Sequence[OutMessage]) -> None:
        self._check()
        first: Exception | None = None
        for m in messages:  # like AMQP: every message is attempted, the first failure is raised
            try:
                check_size(m, self._max_message_bytes)
                self._route(m)
            except (UnroutableError, NotFoundError, MessageTooLargeError) as exc:
                first = first or exc
        await asyncio.sleep(0)
        if first is not None:
            raise first

    def _route(self, m: OutMessage) -> None:
        # Same headers and counts as AmqpBus.publish, so the embedded mode traces and measures too.
        headers = inject(m.headers)
        if headers is not m.headers:
            m = dataclasses.replace(m, headers=headers)
        BUS_METRICS.published(m.exchange)
        if m.exchange == "":
            q = self._queues.get(m.routing_key)
            if q is None:
                if m.routing_key == self._reply_addr:
                    self._on_reply(m)
                    return
                if not m.mandatory:
                    return
                raise UnroutableError(f"no queue {m.routing_key!r}")
            q.push((m, False))
            self._schedule(q)
            return
        ex = self._exchanges.get(m.exchange)
        if ex is None:
            raise NotFoundError(f"no exchange {m.exchange!r}")
        names = ex.route(m.routing_key)
        if not names:
            if not m.mandatory:
                return
            raise UnroutableError(f"no queue bound to {m.exchange!r} for {m.routing_key!r}")
        if len(names) > 1 and m.decoded is not None:
            # Several consumers: each reads its own copy from the bytes (handover.py).
            m = dataclasses.replace(m, decoded=None)
        for name in names:
            q = self._queues[name]
            q.push((m, False))
            self._schedule(q)

    def _park(self, m: OutMessage, headers: Mapping[str, Any]) -> None:
        """Put a copy of m into the DLQ (through the DLX, so extra bindings see it too)."""
        self._route(
            OutMessage(
                exchange=DLX_EXCHANGE,
                routing_key=m.routing_key,
                body=m.body,
                headers=headers,
                message_id=m.message_id,
                correlation_id=m.correlation_id,
                content_type=m.content_type,
            )
        )

    # --- consuming -----------------------------------------------------------------------------
    async def consume(
        self, queue: str, handler: Handler, *, prefetch: int = 100, exclusive: bool = False
    ) -> _MemConsumer:
        self._check()
        q = self._queues.get(queue)
        if q is None:
            raise NotFoundError(f"no queue {queue!r}")
        if q.exclusive or (exclusive and q.consumers):
            raise ExclusiveConsumerError(f"queue {queue!r} is in exclusive use")
        c = _MemConsumer(self, q, handler, prefetch)
        q.consumers.append(c)
        q.exclusive = exclusive
        self._schedule(q)
        return c

    def _schedule(self, q: MemQueue) -> None:
        if not q.pending and q.consumers:
            q.pending = True
            self._check().call_soon(self._dispatch, q)

    def _dispatch(self, q: MemQueue) -> None:
        q.pending = False
        if q.deleted:
            return
        # Single active consumer: only the longest-standing consumer receives.
        consumers = q.consumers[:1] if q.spec.single_active_consumer else q.consumers
        loop = self._check()
        n = len(consumers)
        while n and q.depth():
            for i in range(n):
                c = consumers[(q.rr + i) % n]
                if c.has_room():
                    break
            else:
                return  # every consumer is at its prefetch limit; an ack reschedules us
            q.rr = (q.rr + i + 1) % n
            entry = q.pop()
            assert entry is not None
            d = _MemDelivery(self, q, c, entry[0], entry[1])
            c.unacked[d] = None
            task = loop.create_task(run_handler(c.handler, d))
            c.tasks.add(task)
            task.add_done_callback(c.tasks.discard)

    def busy(self) -> bool:
        """Some consumed queue has messages waiting or being handled. The time-skipping test
        environment only moves the clock when nothing is (queues nobody consumes do not count:
        a task for a worker that is not running must not freeze time)."""
        return any(
            q.consumers and (q.depth() or q.pending or any(c.unacked for c in q.consumers))
            for q in self._queues.values()
        )

    # --- request / reply -----------------------------------------------------------------------
    async def request(self, message: OutMessage, *, timeout: float) -> _MemDelivery:
        loop = self._check()
        corr = message.correlation_id or uuid.uuid4().hex
        fut: asyncio.Future[_MemDelivery] = loop.create_future()
        self._replies[corr] = fut
        try:
            self._route(
                OutMessage(
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                    body=message.body,
                    headers=message.headers,
                    message_id=message.message_id,
                    correlation_id=corr,
                    reply_to=self._reply_addr,
                    priority=message.priority,
                    content_type=message.content_type,
                    decoded=message.decoded,
                )
            )
            try:
                # Not asyncio.wait_for: on Python 3.11 it returns a reply that arrived in the turn
                # the requester was cancelled and swallows the cancel (its caller's timeout, a
                # shutdown); asyncio.timeout lets the cancel through.
                async with asyncio.timeout(timeout):
                    return await fut
            except TimeoutError:
                raise RequestTimeout(f"no reply to {message.routing_key!r} within {timeout}s") from None
        finally:
            self._replies.pop(corr, None)

    def _on_reply(self, m: OutMessage) -> None:
        fut = self._replies.get(m.correlation_id or "")
        if fut is not None and not fut.done():
            fut.set_result(_MemDelivery(self, None, None, m, False))
        # else: the requester gave up; like direct reply-to, the late reply is dropped.


def _props(spec: QueueSpec) -> tuple[bool, bool, int | None, bool, bool]:
    return (spec.durable, spec.dead_letter, spec.max_priority, spec.single_active_consumer, spec.auto_delete)
