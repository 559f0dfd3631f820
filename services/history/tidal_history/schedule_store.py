"""History's reads and writes of the `schedules` table (docs/schedules.md): one row per schedule,
its document as JSON, a version checked on every write. Written inside the batch transaction of
the shard that owns the schedule, with the schedule's tick rows and outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tidal_schema.messages import ScheduleTimer
from tidal_schema.schedule_document import ScheduleDocument
from tidal_server.db import tables as t
from tidal_server.visibility.writer import register_types

from .mutation import Outgoing
from .store_errors import VersionConflictError

__all__ = ["LoadedSchedule", "ScheduleWrite", "load_schedule", "write_schedules"]


@dataclass(frozen=True, kw_only=True)
class LoadedSchedule:
    doc: ScheduleDocument
    version: int


@dataclass(kw_only=True)
class ScheduleWrite:
    """Everything one batch changes for one schedule."""

    doc: ScheduleDocument
    old_version: int | None  # None: a new schedule
    deleted: bool = False
    # Deleted and created again within the batch: the stored row is replaced.
    recreated: bool = False
    timers: dict[str, ScheduleTimer | None] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    # Actions by outcome (taken, skipped, missed, buffered), counted once the batch committed.
    figures: dict[str, int] = field(default_factory=dict)
    # Its own search attributes were set by this batch: register their types in the namespace.
    attributes_set: bool = False

    @property
    def new_version(self) -> int:
        return (self.old_version or 0) + 1

    def record_timers(self, timers_set: Sequence[ScheduleTimer], timers_deleted: Sequence[str]) -> None:
        for key in timers_deleted:
            self.timers[key] = None
        for timer in timers_set:
            self.timers[timer.key] = timer


async def load_schedule(engine: AsyncEngine, namespace: str, schedule_id: str) -> LoadedSchedule | None:
    s = t.schedules.c
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(s.document, s.version).where(s.namespace == namespace, s.schedule_id == schedule_id)
            )
        ).first()
    if row is None:
        return None
    return LoadedSchedule(doc=ScheduleDocument.model_validate(row.document), version=int(row.version))


async def write_schedules(
    conn: AsyncConnection, shard_id: int, writes: Sequence[ScheduleWrite], *, insert: Callable[..., Any]
) -> None:
    """`insert`: the dialect's insert (ON CONFLICT), for the search attribute types."""
    s = t.schedules
    for w in writes:
        doc = w.doc
        if w.attributes_set and not w.deleted:
            # As a run's first value does: the namespace's type of each new name is inferred from
            # it, so filters on schedules and on runs read the attribute the same way. Keyword
            # lists have no registered type (runs cannot have them) and are skipped.
            typed = {k: v for k, v in doc.search_attributes.items() if not isinstance(v, list)}
            await register_types(conn, insert, doc.namespace, typed)
        where = (s.c.namespace == doc.namespace, s.c.schedule_id == doc.schedule_id)
        if w.deleted:
            if w.old_version is not None:
                res = await conn.execute(sa.delete(s).where(*where, s.c.version == w.old_version))
                _check(res.rowcount, doc)
            # The schedule's tick rows are keyed by its incarnation (schedule_mutation.py).
            await conn.execute(
                sa.delete(t.timers).where(
                    t.timers.c.shard_id == shard_id, t.timers.c.key.startswith(f"{doc.incarnation}/")
                )
            )
            continue
        values = dict(
            document=doc.model_dump(mode="json"),
            version=w.new_version,
            paused=doc.paused,
            next_action_at=doc.armed_tick,
            updated_at=doc.updated_at or doc.created_at,
        )
        if w.recreated and w.old_version is not None:
            res = await conn.execute(sa.delete(s).where(*where, s.c.version == w.old_version))
            _check(res.rowcount, doc)
        if w.old_version is None or w.recreated:
            await conn.execute(
                sa.insert(s).values(
                    namespace=doc.namespace,
                    schedule_id=doc.schedule_id,
                    shard_id=doc.shard_id,
                    created_at=doc.created_at,
                    **values,
                )
            )
        else:
            res = await conn.execute(
                sa.update(s).where(*where, s.c.version == w.old_version).values(**values)
            )
            _check(res.rowcount, doc)
    touched = [k for w in writes if not w.deleted for k in w.timers]
    if touched:
        await conn.execute(
            sa.delete(t.timers).where(t.timers.c.shard_id == shard_id, t.timers.c.key.in_(touched))
        )
    rows = [
        {"shard_id": shard_id, "key": x.key, "fire_at": x.fire_at, "body": x.model_dump(mode="json")}
        for w in writes
        if not w.deleted
        for x in w.timers.values()
        if x is not None
    ]
    if rows:
        await conn.execute(sa.insert(t.timers), rows)


def _check(rowcount: int, doc: ScheduleDocument) -> None:
    if rowcount != 1:
        raise VersionConflictError(f"schedule {doc.schedule_id!r} changed concurrently")
