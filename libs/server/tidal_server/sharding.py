"""Shard ownership: a live-member list in the database and an even spread of shards over the
members of one service, recomputed on every heartbeat so shards move when members join or leave.

Exclusive consumers on the shard queues make a double owner impossible on the broker side; the
history service adds a fencing token (`shards.range_id`) on the database side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Clock
from .db import tables as t

log = logging.getLogger("tidal.sharding")

Acquire = Callable[[int], Awaitable[bool]]
Release = Callable[[int], Awaitable[None]]


def assign(shard_count: int, members: Sequence[str]) -> dict[int, str]:
    """Deterministic, even: every member computes the same answer from the same member list."""
    ordered = sorted(members)
    return {s: ordered[s % len(ordered)] for s in range(shard_count)} if ordered else {}


class Membership:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        clock: Clock,
        service: str,
        member_id: str,
        shard_count: int,
        acquire: Acquire,
        release: Release,
        heartbeat: timedelta = timedelta(seconds=1),
        ttl: timedelta = timedelta(seconds=5),
        healthy: Callable[[int], bool] | None = None,
    ) -> None:
        self._healthy = healthy
        self._engine = engine
        self._clock = clock
        self._service = service
        self.member_id = member_id
        # One process may host several services (the embedded mode): a member row is per service.
        self._key = f"{service}/{member_id}"
        self._shard_count = shard_count
        self._acquire = acquire
        self._release = release
        self._heartbeat = heartbeat
        self._ttl = ttl
        self.owned: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self.settled = asyncio.Event()
        # Held while a tick runs: stop() takes it before cancelling the loop, so the loop is never
        # cancelled inside a transaction (on SQLite that can leave the write lock held, and the
        # final DELETE below then waits out busy_timeout: "database is locked").
        self._tick_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.tick()
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-membership")

    async def stop(self) -> None:
        if self._task is not None:
            async with self._tick_lock:
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for shard in sorted(self.owned):
            await self._release(shard)
        self.owned.clear()
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(t.members).where(t.members.c.member_id == self._key))

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._heartbeat.total_seconds())
            try:
                async with self._tick_lock:
                    await self.tick()
            except Exception:
                log.exception("membership tick failed for %s", self.member_id)

    async def tick(self) -> None:
        now = self._clock.now()
        async with self._engine.begin() as conn:
            ins = self._insert(t.members).values(
                member_id=self._key, service=self._service, heartbeat_at=now, started_at=now
            )
            await conn.execute(
                ins.on_conflict_do_update(index_elements=["member_id"], set_={"heartbeat_at": now})
            )
            rows = (
                await conn.execute(
                    sa.select(t.members.c.member_id).where(
                        t.members.c.service == self._service, t.members.c.heartbeat_at > now - self._ttl
                    )
                )
            ).all()
        live = [r.member_id for r in rows]
        if self._healthy is not None:
            for shard in [s for s in self.owned if not self._healthy(s)]:
                log.warning(
                    "shard %s was lost by %s; it will be re-acquired if still assigned", shard, self.member_id
                )
                await self._release(shard)
                self.owned.discard(shard)
        target = {s for s, m in assign(self._shard_count, live).items() if m == self._key}
        for shard in sorted(self.owned - target):
            await self._release(shard)
            self.owned.discard(shard)
        for shard in sorted(target - self.owned):
            try:
                ok = await self._acquire(shard)
            except Exception:
                log.exception("acquiring shard %s failed; retrying on the next heartbeat", shard)
                ok = False
            if ok:
                self.owned.add(shard)
        if self.owned == target:
            self.settled.set()
        else:
            self.settled.clear()
        log.debug(
            "%s owns %d shards of %d (%d live members)",
            self.member_id,
            len(self.owned),
            self._shard_count,
            len(live),
        )
