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
from .supervision import Supervised, Supervisor

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
        supervisor: Supervisor | None = None,
    ) -> None:
        self._healthy = healthy
        self._supervisor = supervisor
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
        self._task: asyncio.Task[None] | Supervised | None = None
        self._wake = asyncio.Event()  # tick now instead of after the heartbeat (a shard was dropped)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self.settled = asyncio.Event()
        # Held while a tick runs: stop() takes it before cancelling the loop, so the loop is never
        # cancelled inside a transaction (on SQLite that can leave the write lock held, and the
        # final DELETE below then waits out busy_timeout: "database is locked").
        self._tick_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.tick()
        if self._supervisor is not None:
            self._task = self._supervisor.spawn("membership", self._run)
        else:
            self._task = asyncio.create_task(self._run(), name=f"{self._service}-membership")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if isinstance(task, asyncio.Task):
            async with self._tick_lock:
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        elif task is not None:
            async with self._tick_lock:
                task.task.cancel()
            await task.cancel()
        for shard in sorted(self.owned):
            await self._release(shard)
        self.owned.clear()
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(t.members).where(t.members.c.member_id == self._key))

    async def drop(self, shard: int) -> None:
        """Give up a shard whose processing died: release it now (its exclusive consumer is
        cancelled, so its messages go back to the queue) and tick at once, which re-acquires it if
        it is still assigned here; otherwise its new owner takes it. Raises if the release fails
        (the caller's supervisor then stops the process)."""
        async with self._tick_lock:
            if shard in self.owned:
                await self._give_up(shard)
                self.owned.discard(shard)
                self.settled.clear()
        self._wake.set()

    async def _give_up(self, shard: int) -> None:
        """Release a shard while running. A release that fails leaves a consumer nobody processes
        holding the shard's queue, which no tick can repair: the process is marked failed (the
        host then exits non-zero) when a supervisor is given."""
        try:
            await self._release(shard)
        except Exception as exc:
            if self._supervisor is not None:
                self._supervisor.health.fail(
                    f"{self._service} shard {shard} could not be released: {type(exc).__name__}: {exc}"
                )
            raise

    async def _run(self) -> None:
        while True:
            await self._sleep()
            try:
                async with self._tick_lock:
                    await self.tick()
            except Exception:
                log.exception("membership tick failed for %s", self.member_id)

    async def _sleep(self) -> None:
        """A heartbeat on the injected clock, or less when drop() asks for a tick now."""
        waits = [
            asyncio.ensure_future(self._clock.sleep(self._heartbeat.total_seconds())),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        self._wake.clear()

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
                await self._give_up(shard)
                self.owned.discard(shard)
        target = {s for s, m in assign(self._shard_count, live).items() if m == self._key}
        for shard in sorted(self.owned - target):
            await self._give_up(shard)
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
