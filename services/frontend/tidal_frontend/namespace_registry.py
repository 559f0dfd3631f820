"""Namespaces as the frontend sees them: a short-lived cache of the `namespaces` table (every
workflow request checks its namespace) and the writes of the namespaces API.

Namespaces are cluster metadata, not workflow state: the frontend writes this table directly
(history stays the only writer of executions, events, timers and the outbox). Another frontend
process sees a new or changed namespace within `namespace_cache_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db import namespaces as ns_table

from .problems import Problem


class NamespaceState(StrEnum):
    REGISTERED = "registered"
    DEPRECATED = "deprecated"


@dataclass(frozen=True, kw_only=True)
class NamespaceInfo:
    name: str
    description: str
    retention_days: int
    state: NamespaceState
    created_at: datetime | None


_COLUMNS = (
    ns_table.c.name,
    ns_table.c.description,
    ns_table.c.retention_days,
    ns_table.c.state,
    ns_table.c.created_at,
)


def _info(row: Any) -> NamespaceInfo:
    return NamespaceInfo(
        name=row.name,
        description=row.description,
        retention_days=row.retention_days,
        state=NamespaceState(row.state),
        created_at=row.created_at,
    )


def not_found(name: str) -> Problem:
    return Problem("namespace_not_found", f"namespace {name!r} does not exist", namespace=name)


class NamespaceRegistry:
    def __init__(
        self, engine: AsyncEngine, *, ttl_seconds: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._now = monotonic
        self._cache: dict[str, tuple[float, NamespaceInfo | None]] = {}
        self._reads: dict[str, asyncio.Future[NamespaceInfo | None]] = {}

    async def get(self, name: str) -> NamespaceInfo | None:
        hit = self._cache.get(name)
        if hit is not None and hit[0] > self._now():
            return hit[1]
        # One read per name at a time: every request that misses while it is in flight waits for
        # it. Without this, each start of a burst that missed read the table itself; with one
        # SQLite connection those reads queued behind each other longer than the cache lives, so
        # in the embedded timers workload 1,036 of 1,000 starts read it, each waiting p50 1.6 s
        # and holding up every other session on the connection.
        read = self._reads.get(name)
        if read is None:
            read = self._reads[name] = asyncio.ensure_future(self._read(name))
            read.add_done_callback(partial(self._read_done, name))
        # Shielded: a caller that gives up does not cancel the read the others wait for.
        return await asyncio.shield(read)

    async def _read(self, name: str) -> NamespaceInfo | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(*_COLUMNS).where(ns_table.c.name == name))).first()
        info = None if row is None else _info(row)
        if self._reads.get(name) is asyncio.current_task():  # not invalidated meanwhile
            if len(self._cache) > 10_000:  # unknown names are cached too: bound the memory
                self._cache.clear()
            self._cache[name] = (self._now() + self._ttl, info)
        return info

    def _read_done(self, name: str, read: asyncio.Future[NamespaceInfo | None]) -> None:
        if self._reads.get(name) is read:
            del self._reads[name]
        if not read.cancelled():
            read.exception()  # retrieved: every waiter may have given up

    async def require(self, name: str) -> NamespaceInfo:
        info = await self.get(name)
        if info is None:
            raise not_found(name)
        return info

    async def require_startable(self, name: str) -> NamespaceInfo:
        info = await self.require(name)
        if info.state is NamespaceState.DEPRECATED:
            raise Problem(
                "namespace_deprecated",
                f"namespace {name!r} is deprecated: its workflows can be read and signalled, "
                "but no new workflow can start in it",
                namespace=name,
            )
        return info

    def invalidate(self, name: str) -> None:
        self._cache.pop(name, None)
        # A read in flight may have started before the change: the next get reads again.
        self._reads.pop(name, None)

    # --- the namespaces API's reads and writes -------------------------------------------

    async def list(self) -> list[NamespaceInfo]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(*_COLUMNS).order_by(ns_table.c.name))).all()
        return [_info(r) for r in rows]

    async def create(self, *, name: str, description: str, retention_days: int) -> NamespaceInfo:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(ns_table).values(
                        name=name,
                        description=description,
                        retention_days=retention_days,
                        state=NamespaceState.REGISTERED.value,
                    )
                )
        except IntegrityError:
            raise Problem(
                "namespace_already_exists", f"namespace {name!r} already exists", namespace=name
            ) from None
        self.invalidate(name)
        return await self.require(name)

    async def update(self, name: str, **values: object) -> NamespaceInfo:
        if values:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    sa.update(ns_table).where(ns_table.c.name == name).values(**values)
                )
            if not result.rowcount:
                raise not_found(name)
        self.invalidate(name)
        return await self.require(name)
