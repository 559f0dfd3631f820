"""The sweep: overdue rows that nothing brought into the heap are fired late, never left unfired.

The reads of the table are contiguous slices ahead of the clock, and history sends a
`ScheduleTimer` for every timer due before its `now` plus `MESSAGE_HORIZON`
(tidal_server.timer_horizon). A row can still fall between them when its commit became visible
more than `SKEW_MARGIN` after history's batch time (a commit stalled that long) or the hosts'
clocks disagree by more: its due time is then behind the slices already read and no message
names it. Such a row stays in the table (history deletes a row only once its fire is applied or
what it was set for is done), so every `sweep_interval` the service reads each shard's rows
overdue by more than `sweep_grace` and fires the ones it neither holds nor has fired itself.

The memory of what this process fired is what keeps the sweep from firing a timer again while
history has not applied its fire yet (history down or behind): a key is remembered with its due
time from the confirm until a sweep no longer finds its row. A new owner of a shard starts with
none, and its first load reads every overdue row anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema.messages import ScheduleTimer

from . import metrics
from .heap import Entry
from .store import load_due, load_due_shards

__all__ = ["Sweep"]

log = logging.getLogger("tidal.timer")


class Sweep:
    def __init__(
        self, *, engine: AsyncEngine, limit: int, interval: timedelta, grace: timedelta, start: datetime
    ) -> None:
        self._engine = engine
        self._limit = limit
        self._interval = interval
        self._grace = grace
        self._next = start + interval
        self._fired: dict[int, dict[str, datetime]] = {}  # shard -> key -> due time fired
        self.found = 0
        """Rows the sweep fired: each one a timer the reads and the messages both missed."""

    def due(self, now: datetime) -> datetime | None:
        """When a sweep is due at `now`: the due time before which it reads (now - grace)."""
        if now < self._next:
            return None
        self._next = now + self._interval
        return now - self._grace

    def retry(self) -> None:
        """A shard's sweep failed: the next turn of the load loop sweeps again."""
        self._next = datetime.min.replace(tzinfo=UTC)

    def fired(self, entries: Iterable[Entry[ScheduleTimer]]) -> None:
        """Fires confirmed: their rows stay until history applies them; do not fire them again."""
        for e in entries:
            self._fired.setdefault(e.value.shard_id, {})[e.key] = e.due

    def drop_shard(self, shard_id: int) -> None:
        self._fired.pop(shard_id, None)

    def remembered(self, shard_id: int) -> int:
        return len(self._fired.get(shard_id, ()))

    async def overdue_together(
        self, shard_ids: list[int], *, before: datetime, held: Callable[[str], bool]
    ) -> dict[int, list[ScheduleTimer]]:
        """`overdue` for several shards in one statement (one per sweep instead of one per shard,
        docs/performance.md); each shard on its own when their overdue rows are more than one
        read takes."""
        loaded = await load_due_shards(self._engine, shard_ids, start=None, end=before, limit=self._limit)
        if loaded is None:
            return {s: await self.overdue(s, before=before, held=held) for s in shard_ids}
        rows: dict[int, list[ScheduleTimer]] = {s: [] for s in shard_ids}
        for sched in loaded:
            rows.setdefault(sched.shard_id, []).append(sched)
        return {s: self._missed(s, rows[s], complete=True, before=before, held=held) for s in shard_ids}

    async def overdue(
        self, shard_id: int, *, before: datetime, held: Callable[[str], bool]
    ) -> list[ScheduleTimer]:
        """The shard's rows due before `before` that are neither `held` (in the heap) nor fired
        by this process. Forgets fired keys due before `before` whose row is gone."""
        loaded = await load_due(self._engine, shard_id, start=None, end=before, limit=self._limit)
        return self._missed(shard_id, loaded.timers, complete=loaded.cursor is None, before=before, held=held)

    def _missed(
        self,
        shard_id: int,
        rows: list[ScheduleTimer],
        *,
        complete: bool,
        before: datetime,
        held: Callable[[str], bool],
    ) -> list[ScheduleTimer]:
        fired = self._fired.get(shard_id, {})
        missed = [s for s in rows if not held(s.key) and fired.get(s.key) != s.fire_at]
        if complete and fired:
            # Every overdue row was read: a fired key due in that range without a row is applied.
            present = {s.key for s in rows}
            for key in [k for k, due in fired.items() if due < before and k not in present]:
                del fired[key]
        for sched in missed:
            log.warning(
                "timer %r of shard %s (due %s) came in neither a read nor a message; firing it late",
                sched.key,
                shard_id,
                sched.fire_at.isoformat(),
            )
            metrics.SWEPT.inc()
        self.found += len(missed)
        return missed
