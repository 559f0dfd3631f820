"""Composition root of the history service."""

from __future__ import annotations

import logging
from datetime import timedelta

from tidal_server.bus import ExclusiveConsumerError
from tidal_server.service import Runtime
from tidal_server.sharding import Membership
from tidal_server.supervision import ExitHandler

from . import metrics, topology
from .cache import RunCache
from .direct import SharedQueues
from .poison import PoisonPolicy
from .settings import HistorySettings
from .shard import ShardProcessor
from .store import HistoryStore

log = logging.getLogger("tidal.history")


class HistoryService:
    name = "history"

    def __init__(self, runtime: Runtime, settings: HistorySettings) -> None:
        self._rt = runtime
        self._settings = settings
        self._store = HistoryStore(runtime.engine)
        self._limits = settings.limits()
        self.cache = RunCache(
            max_bytes=settings.cache_max_bytes, max_runs=settings.cache_size, on_evict=metrics.cache_evicted
        )
        # One per process, shared by its shards: a task queue's refresh through matching is per
        # process, not per shard.
        self._shared_queues = SharedQueues(refresh_seconds=settings.shared_queue_refresh_seconds)
        self.processors: dict[int, ShardProcessor] = {}
        self._supervisor = runtime.supervisor("history")
        self._poison = PoisonPolicy(
            max_attempts=settings.poison_max_attempts,
            backoff_seconds=settings.poison_backoff_seconds,
            backoff_max_seconds=settings.poison_backoff_max_seconds,
        )
        self.membership = Membership(
            engine=runtime.engine,
            clock=runtime.clock,
            service="history",
            member_id=runtime.member_id,
            shard_count=runtime.shard_count,
            acquire=self._acquire,
            release=self._release,
            heartbeat=timedelta(seconds=settings.heartbeat_seconds),
            ttl=timedelta(seconds=settings.member_ttl_seconds),
            healthy=self._healthy,
            supervisor=self._supervisor,
        )

    async def start(self) -> None:
        metrics.SHARD_COUNT.set(self._rt.shard_count)
        metrics.watch_cache(self.cache)
        await topology.declare(self._rt.bus, self._rt.shard_count)
        await self.membership.start()
        self._supervisor.spawn("table-stats", self._store.statistics.run)

    async def stop(self) -> None:
        await self.membership.stop()
        await self._supervisor.stop()
        await self._store.close()

    def _healthy(self, shard_id: int) -> bool:
        p = self.processors.get(shard_id)
        return p is not None and p.running and not p.lost.is_set()

    def _on_shard_exit(self, shard_id: int) -> ExitHandler:
        async def released(exc: BaseException | None) -> None:
            # The shard's loop ended (fenced out, or a crash): release the shard now, so that this
            # member re-acquires it (membership ticks at once) or its new owner takes it. If that
            # raises, the supervisor stops the process: nothing in it would process the shard.
            await self.membership.drop(shard_id)

        return released

    async def _acquire(self, shard_id: int) -> bool:
        processor = ShardProcessor(
            shard_id=shard_id,
            owner=self._rt.member_id,
            store=self._store,
            bus=self._rt.bus,
            clock=self._rt.clock,
            shard_count=self._rt.shard_count,
            cache=self.cache,
            batch_max=self._settings.batch_max,
            prefetch=self._settings.prefetch,
            publish_overlap=self._settings.publish_overlap,
            shared_queues=self._shared_queues,
            fire_hold_max=self._settings.fire_hold_max_seconds,
            limits=self._limits,
            supervisor=self._supervisor,
            on_exit=self._on_shard_exit(shard_id),
            poison=self._poison,
        )
        try:
            await processor.start()
        except ExclusiveConsumerError:
            log.info("shard %s is still held by its previous owner; retrying", shard_id)
            return False
        processor.lost.clear()
        self.processors[shard_id] = processor
        metrics.SHARD_ACQUIRED.inc()
        metrics.SHARDS_OWNED.set(len(self.processors))
        log.info("acquired shard %s (range_id %s)", shard_id, processor.range_id)
        return True

    async def _release(self, shard_id: int) -> None:
        processor = self.processors.pop(shard_id, None)
        metrics.SHARDS_OWNED.set(len(self.processors))
        if processor is not None:
            await processor.stop()
            log.info("released shard %s", shard_id)


def build(runtime: Runtime) -> HistoryService:
    return HistoryService(runtime, HistorySettings(**runtime.settings_overrides("history")))
