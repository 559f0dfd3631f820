"""Composition root of the matching service: history's tasks in, worker queues out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    AddActivityTask,
    AddQueryTask,
    AddWorkflowTask,
    MatchingMessage,
)
from tidal_server.bus import (
    BusError,
    Consumer,
    Delivery,
    OutMessage,
    QueueSpec,
    UnroutableError,
    WatchesConnection,
    decoded_as,
    union_members,
)
from tidal_server.service import Runtime
from tidal_server.telemetry import SERVICE_ATTRIBUTE, tracer

from . import metrics
from .held_tasks import HeldTasks
from .queues import task_queue_spec
from .rate_declarations import RateDeclarations
from .rate_limit import DeclaredRates
from .router import destinations, task_priority
from .settings import MatchingSettings
from .young_queues import YoungQueues

log = logging.getLogger("tidal.matching")
_tracer = tracer("tidal.matching")

# What a delivery may hand over instead of its bytes (tidal_server.bus.handover).
_KINDS = union_members(MatchingMessage)


class MatchingService:
    name = "matching"

    def __init__(
        self, runtime: Runtime, settings: MatchingSettings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """`monotonic`: the time rate declarations lapse in and young queues age in (a test gives
        its fake clock's)."""
        self._rt = runtime
        self._settings = settings
        self._monotonic = monotonic
        # Workflow tasks in queues the broker may still lose, published again after a reconnect.
        self._young = YoungQueues(
            window=settings.young_queue_seconds, max_bytes=settings.young_queue_max_bytes
        )
        self._publishing_again: asyncio.Task[None] | None = None
        # Declared worker queues -> backlog gauge labels (namespace, task queue, kind).
        self._declared: dict[str, tuple[str, str, str]] = {}
        self._declaring: dict[str, asyncio.Future[None]] = {}
        self._consumer: Consumer | None = None
        self._supervisor = runtime.supervisor("matching")
        self.delivered = 0
        self.sticky_hits = 0
        self.sticky_misses = 0
        # Task-queue activity rate limits (docs/task-queue-rates.md).
        self._rates = DeclaredRates(
            ttl=settings.task_queue_rate_ttl_seconds, max_task_queues=settings.max_rate_limited_task_queues
        )
        self._held = HeldTasks(
            bus=runtime.bus,
            clock=runtime.clock,
            monotonic=monotonic,
            rates=self._rates,
            forward=self._forward,
        )
        self._declarations = RateDeclarations(
            bus=runtime.bus,
            member_id=runtime.member_id,
            rates=self._rates,
            held=self._held,
            max_task_queues=settings.max_rate_limited_task_queues,
        )

    async def start(self) -> None:
        bus = self._rt.bus
        await bus.declare_exchange(names.MATCHING_EXCHANGE, "direct")
        await bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        if isinstance(bus, WatchesConnection):
            bus.watch_connection(self._connection_lost, self._connection_restored)
        await self._declarations.start()
        self._consumer = await bus.consume(
            names.MATCHING_QUEUE, self._handle, prefetch=self._settings.prefetch
        )
        self._supervisor.spawn("backlog", self._poll_backlog)

    async def stop(self) -> None:
        if self._publishing_again is not None:
            self._publishing_again.cancel()
        await self._supervisor.stop()
        if self._consumer is not None:
            await self._consumer.cancel()
            self._consumer = None
        await self._declarations.stop()
        await self._held.stop()

    async def _handle(self, delivery: Delivery) -> None:
        try:
            msg = decoded_as(delivery, _KINDS) or MATCHING_MESSAGE.validate_json(delivery.body)
        except ValidationError as exc:
            await delivery.dead_letter(
                f"invalid matching message: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
            )
            return
        if isinstance(msg, AddQueryTask):
            if not delivery.reply_to:
                await delivery.dead_letter("query task without reply-to: nobody can get the answer")
                return
            # The worker answers the frontend directly: it needs the (broker-rewritten) reply-to.
            task = msg.task.model_copy(
                update={"reply_to": delivery.reply_to, "correlation_id": delivery.correlation_id or ""}
            )
            msg = msg.model_copy(update={"task": task})
        if isinstance(msg, AddActivityTask):
            key = (msg.task.namespace, msg.task.task_queue)
            if self._held.limited(key):
                # Never wait for a token here: this consumer serves every task queue.
                await self._held.hold(key, delivery.body, task_priority(msg))
                await delivery.ack()
                return
        # Query tasks travel on the workflow task queues.
        kind = "activity" if isinstance(msg, AddActivityTask) else "workflow"
        start = time.perf_counter()
        with _tracer.start_as_current_span(
            f"matching {msg.type}",
            kind=SpanKind.CONSUMER,
            attributes={
                SERVICE_ATTRIBUTE: "matching",
                "tidal.namespace": msg.task.namespace,
                "tidal.task_queue": msg.task.task_queue,
                "tidal.workflow_id": msg.task.workflow_id,
            },
        ):
            target = await self._dispatch(msg, kind)
        if target is None:
            await delivery.nack(requeue=True)
            return
        metrics.DISPATCH_SECONDS.labels(kind).observe(time.perf_counter() - start)
        metrics.TASKS.labels(kind, target).inc()
        await delivery.ack()

    async def _forward(self, msg: MatchingMessage) -> bool:
        """A held task released by its task queue's limiter, to the worker queue."""
        target = await self._dispatch(msg, "activity")
        if target is not None:
            metrics.TASKS.labels("activity", target).inc()
        return target is not None

    async def _dispatch(self, msg: MatchingMessage, kind: str) -> str | None:
        """Publish to the first queue that takes the task; returns "sticky" / "shared" (None: none
        did)."""
        task = msg.task
        # Workers get the task itself, not matching's envelope.
        body = task.model_dump_json().encode()
        priority = task_priority(msg)
        targets = destinations(msg)
        for i, queue in enumerate(targets):
            sticky = i == 0 and len(targets) > 1
            if not sticky:
                await self._ensure(queue, task.namespace, task.task_queue, kind)
            try:
                await self._rt.bus.publish(
                    OutMessage(exchange="", routing_key=queue, body=body, priority=priority)
                )
            except UnroutableError:
                # The sticky worker is gone (its queue went with it): fall back to the shared queue.
                self.sticky_misses += 1
                metrics.STICKY_MISS.inc()
                continue
            if sticky:
                self.sticky_hits += 1
                metrics.STICKY_HIT.inc()
            elif isinstance(msg, AddWorkflowTask):
                self._young.published(queue, body, priority, self._monotonic())
            self.delivered += 1
            return "sticky" if sticky else "shared"
        return None

    async def _ensure(self, queue: str, namespace: str, task_queue: str, kind: str) -> None:
        if queue in self._declared:
            return
        # One declaration per queue however many tasks wait for it: a burst for a new task
        # queue has a whole prefetch window of them in flight, each two broker round trips.
        declaring = self._declaring.get(queue)
        if declaring is None:
            declaring = asyncio.ensure_future(self._declare(queue, (namespace, task_queue, kind)))
            self._declaring[queue] = declaring
            declaring.add_done_callback(lambda done: self._declared_or_not(queue, done))
        # Shielded: a waiter cancelled (matching stopping) leaves the declaration to the others.
        await asyncio.shield(declaring)

    async def _declare(self, queue: str, labels: tuple[str, str, str]) -> None:
        await self._rt.bus.declare_queue(task_queue_spec(queue))
        # Recorded here, in the step the declaration ends in, not by its waiters: they resume two
        # event-loop turns after it ends (its done callbacks, then the shields'), and a delivery
        # read with the declare-ok starts its handler in between, after `_declared_or_not` has
        # forgotten the declaration: it found the queue neither declared nor being declared.
        self._declared[queue] = labels
        if labels[2] == "workflow":
            self._young.declared(queue, self._monotonic())

    def _declared_or_not(self, queue: str, done: asyncio.Future[None]) -> None:
        # A failed declaration is forgotten, so the next task (the requeued ones) tries again.
        self._declaring.pop(queue, None)
        if not done.cancelled():
            done.exception()  # retrieved: the waiters raised it

    def _connection_lost(self) -> None:
        self._young.lost(self._monotonic())

    def _connection_restored(self) -> None:
        if self._publishing_again is not None:
            self._publishing_again.cancel()  # the next one publishes everything it did again
        self._publishing_again = asyncio.ensure_future(self._publish_again())

    async def _publish_again(self) -> None:
        """The workflow tasks of queues that were young when the connection went: the broker may
        have lost those queues with them (its reconnect declared them again, empty)."""
        kept = self._young.restored()
        if not kept:
            self._young.published_again(self._monotonic())
            return
        for attempt in range(1, 6):
            try:
                await self._rt.bus.publish_many(
                    [
                        OutMessage(exchange="", routing_key=k.queue, body=k.body, priority=k.priority)
                        for k in kept
                    ]
                )
            except BusError as exc:
                # Lost again: the next reconnect publishes them all again. Otherwise try again.
                log.warning("publishing %d young-queue workflow tasks again failed (%s)", len(kept), exc)
                await asyncio.sleep(attempt)
                continue
            metrics.REPUBLISHED.inc(len(kept))
            log.info("published %d workflow tasks again into queues young at the broker's loss", len(kept))
            self._young.published_again(self._monotonic())
            return
        # Kept (bounded by young_queue_max_bytes) for the next reconnect to try again; the tasks
        # come back by the workflow task timeout meanwhile.
        log.error("gave up publishing %d young-queue workflow tasks again", len(kept))

    async def _poll_backlog(self) -> None:
        while True:
            for queue, labels in list(self._declared.items()):
                try:
                    depth = await self._rt.bus.queue_depth(queue)
                except BusError:
                    continue  # reconnecting, or deleted by an operator: try again next round
                metrics.BACKLOG.labels(*labels).set(depth)
            for key in self._held.attached_keys():
                try:
                    depth = await self._rt.bus.queue_depth(names.rate_limited_activity_queue(*key))
                except BusError:
                    continue
                metrics.BACKLOG.labels(*key, "activity_held").set(depth)
            await self._declarations.retire_stale()
            self._declarations.refresh_gauge()
            self._young.tick(self._monotonic())
            metrics.KEPT_BYTES.set(self._young.kept_bytes)
            await asyncio.sleep(self._settings.backlog_poll_seconds)


def build(runtime: Runtime) -> MatchingService:
    return MatchingService(runtime, MatchingSettings(**runtime.settings_overrides("matching")))
