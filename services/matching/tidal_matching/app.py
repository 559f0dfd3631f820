"""Composition root of the matching service: history's tasks in, worker queues out."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import MATCHING_MESSAGE, AddQueryTask
from tidal_server.bus import Consumer, Delivery, OutMessage, QueueSpec, UnroutableError
from tidal_server.service import Runtime

from .queues import task_queue_spec
from .router import destinations
from .settings import MatchingSettings

log = logging.getLogger("tidal.matching")


class MatchingService:
    name = "matching"

    def __init__(self, runtime: Runtime, settings: MatchingSettings) -> None:
        self._rt = runtime
        self._settings = settings
        self._declared: set[str] = set()
        self._consumer: Consumer | None = None
        self.delivered = 0
        self.sticky_hits = 0
        self.sticky_misses = 0

    async def start(self) -> None:
        bus = self._rt.bus
        await bus.declare_exchange(names.MATCHING_EXCHANGE, "direct")
        await bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        self._consumer = await bus.consume(
            names.MATCHING_QUEUE, self._handle, prefetch=self._settings.prefetch
        )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
            self._consumer = None

    async def _handle(self, delivery: Delivery) -> None:
        try:
            msg = MATCHING_MESSAGE.validate_json(delivery.body)
        except ValidationError as exc:
            await delivery.dead_letter(
                f"invalid matching message: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
            )
            return
        # Workers get the task itself, not matching's envelope.
        if isinstance(msg, AddQueryTask):
            if not delivery.reply_to:
                await delivery.dead_letter("query task without reply-to: nobody can get the answer")
                return
            # The worker answers the frontend directly: it needs the (broker-rewritten) reply-to.
            task = msg.task.model_copy(
                update={"reply_to": delivery.reply_to, "correlation_id": delivery.correlation_id or ""}
            )
            body = task.model_dump_json().encode()
        else:
            body = msg.task.model_dump_json().encode()
        targets = destinations(msg)
        for i, queue in enumerate(targets):
            sticky = i == 0 and len(targets) > 1
            if not sticky:
                await self._ensure(queue)
            try:
                await self._rt.bus.publish(OutMessage(exchange="", routing_key=queue, body=body))
            except UnroutableError:
                # The sticky worker is gone (its queue went with it): fall back to the shared queue.
                self.sticky_misses += 1
                continue
            if sticky:
                self.sticky_hits += 1
            self.delivered += 1
            await delivery.ack()
            return
        await delivery.nack(requeue=True)

    async def _ensure(self, queue: str) -> None:
        if queue not in self._declared:
            await self._rt.bus.declare_queue(task_queue_spec(queue))
            self._declared.add(queue)


def build(runtime: Runtime) -> MatchingService:
    return MatchingService(runtime, MatchingSettings(**runtime.settings_overrides("matching")))
