"""The bus contract shared by every implementation: messages, queue specs, protocols, errors.

Both implementations (AMQP and in-memory) are tested against the same suite, so everything a
service may rely on is stated here, not in either implementation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ..metrics import BUS_METRICS, DEAD_LETTERED, queue_kind
from ..telemetry import remote_context

log = logging.getLogger("tidal.bus")

DLX_EXCHANGE = "tidal.dlx"
"""Fanout exchange every dead-lettered message goes through (declared on connect)."""
DLQ_QUEUE = "tidal.dead-letter"
"""Durable queue bound to DLX_EXCHANGE: where poison messages wait for an operator."""
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

# Headers dead_letter() adds to the copy it parks in the DLQ.
H_DL_REASON = "x-tidal-dead-letter-reason"
H_DL_QUEUE = "x-tidal-original-queue"
H_DL_EXCHANGE = "x-tidal-original-exchange"
H_DL_ROUTING_KEY = "x-tidal-original-routing-key"
H_DELIVERY_ATTEMPT = "x-tidal-delivery-attempt"
"""Set by a consumer that republishes a message it failed to handle, for a later retry: the
attempt the copy is (absent: 1). Counts survive a redelivery to another process this way."""

ExchangeKind = Literal["direct", "topic", "fanout"]
HeaderValue = str | int | float | bool


@dataclass(frozen=True, kw_only=True, slots=True)
class OutMessage:
    exchange: str
    """"" is the default exchange: routing_key is then the queue name."""
    routing_key: str
    body: bytes
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    priority: int | None = None
    content_type: str = "application/json"
    mandatory: bool = True
    """False: a message no queue takes is dropped silently (fanout notifications nobody listens
    to, replies to a requester that went away) instead of raising UnroutableError."""
    decoded: object | None = field(default=None, compare=False, repr=False)
    """The validated, frozen model `body` encodes, where the publisher built one. Only the
    in-memory bus uses it (handover.py): it never crosses a process boundary, and `body` stays
    what every size check, the dead-letter queue and any other consumer read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueStats:
    """Messages ready for delivery (not counting unacked ones) and live consumers."""

    messages: int
    consumers: int


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueSpec:
    name: str
    bindings: Sequence[tuple[str, str]] = ()
    """(exchange, routing_key) pairs; the exchanges must already be declared."""
    durable: bool = True
    dead_letter: bool = True
    """dead_letter() (and nack(requeue=False)) on deliveries from this queue parks them in the DLQ;
    when False they are dropped."""
    max_priority: int | None = None
    single_active_consumer: bool = False
    auto_delete: bool = False


class Delivery(Protocol):
    """A received message. The handler settles it explicitly (ack / nack / dead_letter), possibly
    after the handler returned (e.g. history acks a batch after its transaction commits).
    Settling twice is a no-op; settling after the consumer was cancelled or the connection was lost
    raises BusClosedError (the broker has already requeued the message)."""

    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any]: ...
    @property
    def routing_key(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def redelivered(self) -> bool: ...
    @property
    def settled(self) -> bool: ...

    async def ack(self) -> None: ...
    async def nack(self, *, requeue: bool = True) -> None: ...
    async def dead_letter(self, reason: str) -> None:
        """Copy to the DLQ with the reason headers (confirmed), then ack."""
        ...


Handler = Callable[[Delivery], Awaitable[None]]


class Consumer(Protocol):
    async def cancel(self) -> None:
        """Stop consuming; unsettled deliveries are requeued (and come back redelivered=True)."""
        ...


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def declare_exchange(self, name: str, kind: ExchangeKind = "direct") -> None: ...
    async def declare_queue(self, spec: QueueSpec) -> None: ...
    async def delete_queue(self, name: str) -> None: ...
    async def publish(self, message: OutMessage) -> None:
        """Returns once the broker confirmed. Raises UnroutableError if no queue took it."""
        ...

    async def publish_many(self, messages: Sequence[OutMessage]) -> None:
        """All messages in flight at once, then wait for every confirm; raises the first failure
        only after every publish settled."""
        ...

    async def consume(
        self, queue: str, handler: Handler, *, prefetch: int = 100, exclusive: bool = False
    ) -> Consumer:
        """Handlers run concurrently (one task per delivery), at most `prefetch` unsettled."""
        ...

    async def request(self, message: OutMessage, *, timeout: float) -> Delivery:
        """Publish with reply_to/correlation_id set and wait for the reply (a no-ack Delivery).
        Repliers publish to exchange "" with routing_key=reply_to; a reply to a requester whose
        connection is gone raises UnroutableError, which a replier should treat as "nobody waits"."""
        ...

    async def queue_depth(self, name: str) -> int: ...

    async def queue_stats(self, name: str) -> QueueStats:
        """Ready messages and consumers of a queue; NotFoundError if it does not exist."""
        ...


@runtime_checkable
class WatchesConnection(Protocol):
    """A bus whose connection can be lost and restored (AMQP; the in-memory bus never is)."""

    def watch_connection(self, on_lost: Callable[[], None], on_restored: Callable[[], None]) -> None:
        """`on_lost()` when the connection goes (not on `close()`), `on_restored()` once a new
        one has re-declared what was declared before; both on the event loop, never raising."""
        ...


class BusError(Exception):
    """Root of every error the bus raises."""


class UnroutableError(BusError):
    """A mandatory publish matched no queue."""


class BusClosedError(BusError):
    """The bus, consumer or delivery's channel is closed (or not connected yet)."""


class ConnectionLostError(BusError):
    """The connection dropped while the operation was in flight; its outcome is unknown."""


class RequestTimeout(BusError, TimeoutError):
    """No reply arrived within the request timeout."""


class ExclusiveConsumerError(BusError):
    """Consume refused: another consumer holds the queue exclusively (or exclusive consume was
    asked while other consumers exist)."""


class NotFoundError(BusError):
    """The queue or exchange does not exist."""


class PreconditionError(BusError):
    """Redeclaration with different properties."""


class MessageTooLargeError(BusError):
    """The body exceeds the bus's `max_message_bytes` (RabbitMQ's own `max_message_size` would
    otherwise close the publishing channel). Retrying the same message can never succeed."""


def check_size(message: OutMessage, limit: int | None) -> None:
    if limit is not None and len(message.body) > limit:
        raise MessageTooLargeError(
            f"message of {len(message.body)} bytes to {message.exchange or 'the default exchange'} "
            f"({message.routing_key!r}) exceeds the bus limit of {limit} bytes"
        )


def dead_letter_headers(
    headers: Mapping[str, Any], reason: str, queue: str, exchange: str, routing_key: str
) -> dict[str, Any]:
    out = dict(headers)
    out[H_DL_REASON] = reason
    out[H_DL_QUEUE] = queue
    out[H_DL_EXCHANGE] = exchange
    out[H_DL_ROUTING_KEY] = routing_key
    return out


TRANSIENT_REQUEUE_DELAY_S = 1.0
"""How long a delivery whose handler failed for a transient reason waits before it is requeued:
holding it that long keeps a broker or database outage from turning into a hot redelivery loop."""


async def run_handler(handler: Handler, delivery: Delivery) -> None:
    """Run one handler call; a raising handler must never stop the consumer. If the failure is
    transient (broker or database unavailable, see tidal_server.faults) the delivery is requeued
    after a pause; otherwise the message caused it, and it is dead-lettered with the reason
    (unless the handler already settled it). Consumption goes on either way.
    The message's trace context (if any) is current while the handler runs."""
    from ..faults import describe, is_transient  # faults imports this module

    consumed, seconds = BUS_METRICS.consumed(delivery.queue)
    consumed.inc()
    start = time.perf_counter()
    try:
        with remote_context(delivery.headers):
            await handler(delivery)
    except Exception as exc:
        reason = describe(exc)
        if delivery.settled:
            log.exception("handler failed on a delivery from %r after settling it", delivery.queue)
            return
        if is_transient(exc):
            log.warning(
                "handler failed on a delivery from %r (%s); requeueing it in %.0f s",
                delivery.queue,
                reason,
                TRANSIENT_REQUEUE_DELAY_S,
            )
            await asyncio.sleep(TRANSIENT_REQUEUE_DELAY_S)
            try:
                await delivery.nack(requeue=True)
            except BusError:
                log.debug("could not requeue a delivery from %r; the broker will", delivery.queue)
            return
        log.exception("handler failed on a delivery from %r; dead-lettering", delivery.queue)
        try:
            await delivery.dead_letter(reason)
        except BusError:
            # The delivery stays unsettled: the broker redelivers it after requeue/reconnect.
            log.exception("could not dead-letter a delivery from %r", delivery.queue)
    finally:
        seconds.observe(time.perf_counter() - start)


def count_dead_letter(queue: str) -> None:
    DEAD_LETTERED.labels(queue_kind(queue)).inc()
