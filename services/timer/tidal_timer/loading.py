"""Reading the `timers` table into the heap: the recovery read when a shard is acquired (every
row due before the first slice's end, overdue ones included), then every load interval the next
contiguous slice of each shard up to `window` ahead of the clock, in one statement for every shard
whose reads reached the same point, and the sweep of overdue rows (sweep.py). History sends no
ScheduleTimer for a timer due beyond tidal_server.timer_horizon.MESSAGE_HORIZON, so these reads
are what brings most timers in (docs/reliability.md, "Timers")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema.messages import ScheduleTimer
from tidal_server.bus import Consumer
from tidal_server.clock import Clock

from .store import load_due, load_due_shards
from .sweep import Sweep

__all__ = ["Loader", "Shard"]

log = logging.getLogger("tidal.timer")


@dataclass(eq=False)
class Shard:
    id: int
    horizon: datetime
    """The heap holds every timer of this shard due at or before the horizon (ScheduleTimers
    beyond it are acked and left to a later load from the database)."""
    cursor: tuple[datetime, str] | None = None
    """Set while a row-limited load has more rows to page through: (fire_at, key) of the last row."""
    consumer: Consumer | None = None


class Loader:
    def __init__(
        self,
        *,
        reads: AsyncEngine,
        clock: Clock,
        window: timedelta,
        batch_max: int,
        shards: dict[int, Shard],
        sweep: Sweep,
        insert: Callable[[ScheduleTimer], None],
        held: Callable[[str], bool],
        count: Callable[[int], int],
        progress: asyncio.Event,
    ) -> None:
        self._reads = reads
        self._clock = clock
        self._window = window
        self._batch_max = batch_max
        self.shards = shards  # the service's: owned shards, by id
        self._sweep = sweep
        self._insert = insert
        self._held = held
        self._count = count
        self._progress = progress

    async def load(self, state: Shard, *, initial: bool = False, end: datetime | None = None) -> None:
        """Read the next slice of the shard's timers table into the heap."""
        end = end or self._clock.now() + self._window
        if initial:
            start: datetime | None = None  # everything overdue too: this is the recovery path
            after_key = None
        elif state.cursor is not None:
            start, after_key = state.cursor
        else:
            start, after_key = state.horizon, None
            if end <= start:
                return
        before = (state.horizon, state.cursor)
        # Widened before the query: a ScheduleTimer consumed while the query runs may belong to a row
        # committed after the query's snapshot, so it must go into the heap, not be left to the DB.
        state.horizon = max(state.horizon, end)
        try:
            loaded = await load_due(
                self._reads,
                state.id,
                start=start,
                after_key=after_key,
                end=end,
                limit=self._batch_max,
            )
        except BaseException:
            if self.shards.get(state.id) is state:
                state.horizon, state.cursor = before
            raise
        if self.shards.get(state.id) is not state:
            return  # released while loading: these rows belong to the next owner
        for sched in loaded.timers:
            self._insert(sched)
        state.cursor = loaded.cursor
        if loaded.cursor is not None:
            # Only rows up to the cursor are known; later ScheduleTimers wait for the next page.
            state.horizon = loaded.cursor[0]
        self._progress.set()

    async def turn(self) -> None:
        """One turn of the load loop: the next slice of every shard, the next page of a shard
        paging in a backlog that has drained, and the sweep when it is due."""
        # One end for every shard: shards whose reads reached the same point (all of them,
        # once each has been read once) then share one statement per interval.
        end = self._clock.now() + self._window
        same: dict[datetime, list[Shard]] = {}
        for state in list(self.shards.values()):
            if state.cursor is None:
                same.setdefault(state.horizon, []).append(state)
        for states in same.values():
            try:
                await self._load_together(states, end)
            except Exception:
                log.exception(
                    "loading the next window of timer shards %s failed; retrying", [s.id for s in states]
                )
        for state in list(self.shards.values()):
            if state.cursor is None or self.backlogged(state.id):
                continue  # read above, or still firing the previous page of a large backlog
            try:
                await self.load(state)
            except Exception:
                log.exception(
                    "loading the next page of timer shard %s failed; retrying",
                    state.id,
                    extra={"shard": state.id},
                )
        await self._sweep_overdue()

    async def _load_together(self, states: list[Shard], end: datetime) -> None:
        """`_load` for shards whose slices start at the same point, in one statement."""
        start = states[0].horizon
        if len(states) == 1 or end <= start:
            for state in states:
                await self.load(state, end=end)
            return
        # Widened before the query, as in `_load`.
        for state in states:
            state.horizon = end
        try:
            loaded = await load_due_shards(
                self._reads, [s.id for s in states], start=start, end=end, limit=self._batch_max
            )
        except BaseException:
            for state in states:
                if self.shards.get(state.id) is state:
                    state.horizon = start
            raise
        current = {s.id: s for s in states if self.shards.get(s.id) is s}
        if loaded is None:  # more rows than one read takes: page each shard on its own
            for state in current.values():
                state.horizon = start
                await self.load(state, end=end)
            return
        for sched in loaded:
            if sched.shard_id in current:
                self._insert(sched)
        self._progress.set()

    def backlogged(self, shard_id: int) -> bool:
        return self._count(shard_id) > self._batch_max // 2

    async def _sweep_overdue(self) -> None:
        before = self._sweep.due(self._clock.now())
        if before is None:
            return
        # Not the shards still paging in a backlog: their pages read every overdue row.
        states = [s for s in self.shards.values() if s.cursor is None]
        if not states:
            return
        try:
            missed = await self._sweep.overdue_together(
                [s.id for s in states], before=before, held=self._held
            )
        except Exception:
            log.exception("sweeping timer shards %s failed; retrying", [s.id for s in states])
            self._sweep.retry()
            return
        for state in states:
            if self.shards.get(state.id) is state:  # else released: the next owner reads these
                for sched in missed.get(state.id, ()):
                    self._insert(sched)
        self._progress.set()
