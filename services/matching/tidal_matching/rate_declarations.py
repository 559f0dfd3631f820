"""Workers' task-queue rate declarations, as this matching process hears them: its own queue,
bound to `names.RATES_EXCHANGE` with `names.MATCHING_RATES_ROUTING_KEY`, so that every matching
process hears every declaration (the held queues' single active consumer then makes the rate
the cluster's, not each process's). Invalid declarations are dead-lettered with the reason."""

from __future__ import annotations

import contextlib
import logging

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import RATE_DECLARATION
from tidal_server.bus import Bus, BusError, Consumer, Delivery, NotFoundError, QueueSpec

from . import metrics
from .held_tasks import HeldTasks
from .rate_limit import DeclaredRates, TaskQueueKey

__all__ = ["RateDeclarations"]

log = logging.getLogger("tidal.matching")


class RateDeclarations:
    def __init__(
        self, *, bus: Bus, member_id: str, rates: DeclaredRates, held: HeldTasks, max_task_queues: int
    ) -> None:
        self._bus = bus
        self.queue = names.matching_rates_queue(member_id)
        self._rates = rates
        self._held = held
        self._max = max_task_queues
        # Task queues whose held queue this process already looked for (bounded like the rates).
        self._seen: set[TaskQueueKey] = set()
        self._consumer: Consumer | None = None

    async def start(self) -> None:
        await self._bus.declare_exchange(names.RATES_EXCHANGE, "direct")
        await self._bus.declare_queue(
            QueueSpec(
                name=self.queue,
                bindings=[(names.RATES_EXCHANGE, names.MATCHING_RATES_ROUTING_KEY)],
                # Per process incarnation: workers declare again every interval, so a restarted
                # process learns the rates from them; nothing to keep.
                durable=False,
                auto_delete=True,
            )
        )
        self._consumer = await self._bus.consume(self.queue, self._on_declaration, prefetch=100)

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.cancel()
            except BusError:
                log.debug("rate declarations consumer cancel failed", exc_info=True)

    def refresh_gauge(self) -> None:
        now = self._held.declared_now()
        for key in self._rates.keys():
            metrics.RATE_LIMIT.labels(*key).set(self._rates.rate(key, now) or 0)

    async def retire_stale(self) -> None:
        """Forget task queues whose rate lapsed a time to live ago and whose held queue is idle:
        their rate, release consumer, bucket and metric series (the held queue stays in the
        broker, empty). Without this every task queue ever declared kept them for good."""
        now = self._held.declared_now()
        for key in self._rates.stale(now):
            if self._held.attached(key) and not await self._held.retire(key):
                continue
            if not self._rates.forget_if_stale(key, self._held.declared_now()):
                continue  # declared again meanwhile
            self._seen.discard(key)
            for metric, labels in (
                (metrics.RATE_LIMIT, key),
                (metrics.HELD, key),
                (metrics.BACKLOG, (*key, "activity_held")),
            ):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)

    async def _on_declaration(self, delivery: Delivery) -> None:
        try:
            msg = RATE_DECLARATION.validate_json(delivery.body)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            await delivery.dead_letter(
                f"invalid task queue rate declaration: {exc.error_count()} error(s): {where}: {error['msg']}"
            )
            return
        key = (msg.namespace, msg.task_queue)
        rate = msg.activities_per_second
        if not self._rates.declare(key, rate, msg.identity, self._held.declared_now()):
            await delivery.dead_letter(
                f"task queue rate declaration refused: this matching process already limits "
                f"{self._max} task queues (max_rate_limited_task_queues)"
            )
            return
        if rate is not None:
            metrics.RATE_LIMIT.labels(*key).set(rate)
            await self._held.attach(key, rate)
            self._held.wake(key)
        elif key not in self._seen and not self._held.attached(key):
            # A worker of a task queue this process never limited: release what an earlier
            # process held for it (a limit that lapsed, or was dropped, while matching restarted).
            if await self._held_queue_exists(key):
                await self._held.attach(key, None)
        if len(self._seen) < self._max:
            self._seen.add(key)
        await delivery.ack()

    async def _held_queue_exists(self, key: TaskQueueKey) -> bool:
        try:
            await self._bus.queue_stats(names.rate_limited_activity_queue(*key))
        except NotFoundError:
            return False
        return True
