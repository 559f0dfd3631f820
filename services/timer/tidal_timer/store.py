"""Read-only access to the `timers` table (history writes it; the timer service only reads)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema.messages import ScheduleTimer
from tidal_server.db import tables as t

log = logging.getLogger("tidal.timer")


@dataclass(frozen=True, slots=True)
class Loaded:
    timers: list[ScheduleTimer]
    cursor: tuple[datetime, str] | None
    """(fire_at, key) of the last row when the row limit was hit: the next load resumes after it.
    None when every row of the range was read."""


async def load_due(
    engine: AsyncEngine,
    shard_id: int,
    *,
    start: datetime | None,
    end: datetime,
    limit: int,
    after_key: str | None = None,
) -> Loaded:
    """Timers of `shard_id` with start <= fire_at < end, earliest first, at most `limit` rows.
    No lower bound when start is None, so overdue rows are recovered after a restart. With
    `after_key`, rows at exactly `start` resume after that key (keyset paging: many timers can
    share one fire_at, so a time alone cannot say where a truncated load stopped)."""
    c = t.timers.c
    query = sa.select(c.key, c.fire_at, c.body).where(c.shard_id == shard_id, c.fire_at < end)
    if start is not None and after_key is None:
        query = query.where(c.fire_at >= start)
    elif start is not None:
        query = query.where(sa.or_(c.fire_at > start, sa.and_(c.fire_at == start, c.key > after_key)))
    query = query.order_by(c.fire_at, c.key).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    last = rows[-1] if len(rows) >= limit else None
    return Loaded(_parse(rows), None if last is None else (last.fire_at, last.key))


def _shards_query(*, bounded: bool) -> sa.Select[Any]:
    c = t.timers.c
    query = sa.select(c.shard_id, c.key, c.fire_at, c.body).where(
        c.shard_id.in_(sa.bindparam("shards", expanding=True)), c.fire_at < sa.bindparam("end")
    )
    if bounded:
        query = query.where(c.fire_at >= sa.bindparam("start"))
    return query.limit(sa.bindparam("limit"))


# Built once: these run every load interval (and every sweep) while the service is otherwise
# idle, and building the expression was most of the read's own CPU (py-spy, docs/performance.md).
_SHARDS_FROM = _shards_query(bounded=True)
_SHARDS_OVERDUE = _shards_query(bounded=False)


async def load_due_shards(
    engine: AsyncEngine, shard_ids: Sequence[int], *, start: datetime | None, end: datetime, limit: int
) -> list[ScheduleTimer] | None:
    """Timers of any of `shard_ids` with start <= fire_at < end (no lower bound when start is
    None: the sweep's overdue rows): one statement for the shards whose reads have reached the
    same point (the load loop's steady state, and every sweep), instead of one per shard. None
    when there are more than `limit` (the caller pages each shard)."""
    params: dict[str, Any] = {"shards": list(shard_ids), "end": end, "limit": limit + 1}
    if start is not None:
        params["start"] = start
    async with engine.connect() as conn:
        rows = (await conn.execute(_SHARDS_OVERDUE if start is None else _SHARDS_FROM, params)).all()
    return None if len(rows) > limit else _parse(rows)


def _parse(rows: Sequence[Any]) -> list[ScheduleTimer]:
    out: list[ScheduleTimer] = []
    for row in rows:
        try:
            sched = ScheduleTimer.model_validate(row.body)
        except ValidationError as exc:
            # A row we cannot read would otherwise block nothing but be retried forever; history
            # owns the table, so report it and leave it there for an operator.
            log.error("unreadable timers row (key %r): %s", row.key, exc)
            continue
        # The column is what the index orders by and what history updates; trust it over the body.
        if sched.fire_at != row.fire_at or sched.key != row.key:
            sched = sched.model_copy(update={"fire_at": row.fire_at, "key": row.key})
        out.append(sched)
    return out


async def existing_keys(engine: AsyncEngine, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (shard_id, key) timers still have their row. History deletes a row when
    what the timer was set for is done (a task completed, an activity reported, a timer
    cancelled, the run closed) or when it applied the fire, so a due timer without a row could
    only fire stale."""
    if not keys:
        return set()
    c = t.timers.c
    query = sa.select(c.shard_id, c.key).where(sa.tuple_(c.shard_id, c.key).in_(list(keys)))
    async with engine.connect() as conn:
        return {(int(r.shard_id), str(r.key)) for r in (await conn.execute(query)).all()}
