"""Looking up, ahead of their due time, which held timers could only fire stale.

History deletes a timer's row once what it was set for is done (the task completed, the activity
reported, the timer was cancelled, the run closed) or once it applied the fire; a due timer
without its row would only be discarded by history (most workflow task and activity timeouts:
their task completed long before). This loop looks the rows up in batches for the timers falling
due within the look-ahead and forgets the ones whose row is gone, so they are never published.

It runs beside the firing loop and never holds a fire back: a timer that falls due before its
answer came (it arrived late, the database is slow or down) is fired unchecked, which is what
happened to every timer before the lookup existed: history discards a stale fire. What it gives
up against a lookup at the due time is a row deleted within the last look-ahead before the due
time: that timer fires and history discards it.

A row announced by a ScheduleTimer is committed before the message is published, so "no row"
never means "not written yet". It can mean "deleted and written again under the same key" (a
re-armed timer): a ScheduleTimer for a key that arrives while its lookup is in flight therefore
keeps the key from being dropped on that lookup's answer, and it is looked up again.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema.messages import ScheduleTimer
from tidal_server.clock import Clock

from .heap import Entry, TimerHeap

__all__ = ["CheckAgenda", "Lookup", "Park", "StaleCheck"]

log = logging.getLogger("tidal.timer")

Lookup = Callable[[AsyncEngine, Sequence[tuple[int, str]]], Awaitable[set[tuple[int, str]]]]
"""Which of these (shard_id, key) timers still have their row (store.existing_keys)."""

Park = Callable[[str, float | None, asyncio.Event | None], Awaitable[None]]
"""Sleep on the service's clock, as loop `name`, for the seconds given (None: forever) or until the
event is set."""


class CheckAgenda:
    """The held timers still to be looked up, earliest due first. Pure: entries that left the heap,
    were rescheduled or are being fired meanwhile are skipped when they surface."""

    def __init__(self) -> None:
        self._items: list[tuple[datetime, int, str]] = []
        self._queued: set[int] = set()  # entry versions in _items

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, entry: Entry[ScheduleTimer]) -> bool:
        """Queue an entry (once per version). True if it is now the earliest."""
        if entry.version in self._queued:
            return False
        self._queued.add(entry.version)
        heapq.heappush(self._items, (entry.due, entry.version, entry.key))
        return self._items[0][1] == entry.version

    def queued(self, entry: Entry[ScheduleTimer]) -> bool:
        return entry.version in self._queued

    def next_due(self, heap: TimerHeap[ScheduleTimer]) -> datetime | None:
        self._prune(heap)
        return self._items[0][0] if self._items else None

    def take(self, heap: TimerHeap[ScheduleTimer], until: datetime, limit: int) -> list[Entry[ScheduleTimer]]:
        """Up to `limit` queued entries due at or before `until`, removed from the agenda."""
        out: list[Entry[ScheduleTimer]] = []
        while self._items and len(out) < limit and self._items[0][0] <= until:
            _, version, key = heapq.heappop(self._items)
            self._queued.discard(version)
            entry = heap.get(key)
            if entry is not None and entry.version == version and not heap.claimed(entry):
                out.append(entry)
        return out

    def _prune(self, heap: TimerHeap[ScheduleTimer]) -> None:
        while self._items:
            _, version, key = self._items[0]
            entry = heap.get(key)
            if entry is not None and entry.version == version and not heap.claimed(entry):
                return
            heapq.heappop(self._items)
            self._queued.discard(version)


class StaleCheck:
    """The look-ahead loop (`run`) over a `CheckAgenda`; the service feeds it every timer it holds
    (`note`) and tells it about every ScheduleTimer it receives (`touched`)."""

    def __init__(
        self,
        *,
        heap: TimerHeap[ScheduleTimer],
        engine: AsyncEngine,
        lookup: Lookup,
        clock: Clock,
        lookahead: timedelta,
        batch_max: int,
        backoff: tuple[float, float],
        park: Park,
        on_stale: Callable[[list[Entry[ScheduleTimer]]], None],
    ) -> None:
        self._heap = heap
        self._engine = engine
        self._lookup = lookup
        self._clock = clock
        self._lookahead = lookahead
        self._batch_max = batch_max
        self._backoff = backoff
        self._park = park
        self.wake = asyncio.Event()
        """Set when a timer due earlier than the parked loop's plan arrives."""
        self._on_stale = on_stale
        self._agenda = CheckAgenda()
        self._looking: set[str] = set()  # keys of the lookup in flight
        self._touched: set[str] = set()  # ...that a ScheduleTimer named meanwhile
        self._planned: datetime | None = None  # when the parked loop wakes on its own

    def note(self, entry: Entry[ScheduleTimer]) -> None:
        if self._agenda.add(entry) and (self._planned is None or entry.due - self._lookahead < self._planned):
            self.wake.set()

    def touched(self, key: str) -> None:
        if key in self._looking:
            self._touched.add(key)

    def pending(self, entry: Entry[ScheduleTimer]) -> bool:
        """Not looked up (yet): firing it now fires it unchecked."""
        return self._agenda.queued(entry) or entry.key in self._looking

    async def run(self) -> None:
        backoff = self._backoff[0]
        while True:
            self.wake.clear()  # before looking: a note() after this point wakes the park below
            now = self._clock.now()
            batch = self._agenda.take(self._heap, now + self._lookahead, self._batch_max)
            if not batch:
                nxt = self._agenda.next_due(self._heap)
                self._planned = None if nxt is None else nxt - self._lookahead
                delay = None if self._planned is None else max(0.0, (self._planned - now).total_seconds())
                await self._park("check", delay, self.wake)
                self._planned = None
                continue
            try:
                await self._check(batch)
            except Exception:
                # Those timers fire unchecked (history discards what is stale); the pause keeps a
                # database outage from being asked again and again.
                log.warning(
                    "could not look up %d timers ahead of their due time; they fire unchecked",
                    len(batch),
                    exc_info=True,
                )
                await self._park("check", backoff, None)
                backoff = min(backoff * 2, self._backoff[1])
            else:
                backoff = self._backoff[0]

    async def _check(self, batch: list[Entry[ScheduleTimer]]) -> None:
        self._looking = {e.key for e in batch}
        self._touched = set()
        try:
            alive = await self._lookup(self._engine, [(e.value.shard_id, e.key) for e in batch])
            touched = self._touched
        finally:
            self._looking, self._touched = set(), set()
        stale = [
            e
            for e in batch
            if (e.value.shard_id, e.key) not in alive
            and e.key not in touched
            and self._heap.current(e)
            and not self._heap.claimed(e)  # being fired already: confirmed or not, it goes out
        ]
        if stale:
            self._heap.forget(stale)
            self._on_stale(stale)
