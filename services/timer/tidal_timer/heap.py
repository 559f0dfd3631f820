"""A due-time structure keyed by timer key: pure, no I/O, no clock of its own.

Schedule is an upsert and cancel a removal, both O(log n) / O(1): instead of searching the binary
heap, the authoritative entry per key lives in a dict and heap items that no longer match it are
skipped when they surface (lazy deletion). Every entry carries a `group` (the timer shard) so a
released shard's entries can be dropped at once, and a `version` so the firing loop can forget
exactly what it published and not a newer reschedule of the same key that arrived meanwhile.

An entry can be claimed (`claim_due`): its fire is being published. It stays in the heap (counted,
found by `get`, dropped with its group, removable) but is not due again until `unclaim` (the
publish failed) or `forget` (it was confirmed), so the firing loop can go on to the next due
timers without waiting for a confirm.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["Entry", "TimerHeap"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    key: str
    due: datetime
    value: V
    group: Hashable
    version: int


class TimerHeap(Generic[V]):
    def __init__(self) -> None:
        self._live: dict[str, Entry[V]] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        self._groups: dict[Hashable, set[str]] = {}
        self._versions = itertools.count()
        self._claimed: set[int] = set()  # versions whose fire is being published

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def get(self, key: str) -> Entry[V] | None:
        return self._live.get(key)

    def current(self, entry: Entry[V]) -> bool:
        """The entry is still the live one for its key (not removed, not rescheduled)."""
        live = self._live.get(entry.key)
        return live is not None and live.version == entry.version

    def claimed(self, entry: Entry[V]) -> bool:
        return entry.version in self._claimed

    def count(self, group: Hashable) -> int:
        return len(self._groups.get(group, ()))

    def schedule(self, key: str, due: datetime, value: V, *, group: Hashable = None) -> bool:
        """Insert or move `key`. Returns True if the earliest due time got earlier (the firing loop
        must wake up to re-plan its sleep). Re-scheduling the same key at the same time keeps the
        existing entry (window reloads and redeliveries repeat themselves)."""
        current = self._live.get(key)
        if current is not None and current.due == due and current.group == group:
            return False
        before = self.next_due()
        if current is not None:
            self._unlink(current)
        entry = Entry(key=key, due=due, value=value, group=group, version=next(self._versions))
        self._live[key] = entry
        self._groups.setdefault(group, set()).add(key)
        heapq.heappush(self._heap, (due, entry.version, key))
        if current is not None:
            self._compact()
        return before is None or due < before

    def cancel(self, key: str) -> bool:
        entry = self._live.get(key)
        if entry is None:
            return False
        self._unlink(entry)
        self._compact()
        return True

    def drop_group(self, group: Hashable) -> int:
        keys = self._groups.pop(group, set())
        for key in keys:
            self._claimed.discard(self._live.pop(key).version)
        self._compact()
        return len(keys)

    def next_due(self) -> datetime | None:
        self._prune()
        return self._heap[0][0] if self._heap else None

    def peek_due(self, now: datetime, limit: int | None = None) -> list[Entry[V]]:
        """Entries due at or before `now`, earliest first, left in place (see `forget`)."""
        self._prune()
        out: list[Entry[V]] = []
        # heapq.nsmallest would copy the whole heap; walk it in order with a small frontier instead.
        frontier = [(self._heap[0], 0)] if self._heap else []
        while frontier and (limit is None or len(out) < limit):
            (due, version, key), i = heapq.heappop(frontier)
            if due > now:
                break
            entry = self._live.get(key)
            if entry is not None and entry.version == version and version not in self._claimed:
                out.append(entry)
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(self._heap):
                    heapq.heappush(frontier, (self._heap[child], child))
        return out

    def forget(self, entries: list[Entry[V]]) -> int:
        """Remove entries that are still exactly as peeked (same version); a key rescheduled in
        the meantime stays. Returns how many were removed."""
        removed = 0
        for e in entries:
            current = self._live.get(e.key)
            if current is not None and current.version == e.version:
                self._unlink(current)
                removed += 1
        self._prune()
        return removed

    def claim_due(self, now: datetime, limit: int | None = None) -> list[Entry[V]]:
        """`peek_due`, and the entries returned are claimed: not due again until unclaimed."""
        due = self.peek_due(now, limit)
        self._claimed.update(e.version for e in due)
        self._prune()
        return due

    def unclaim(self, entries: list[Entry[V]]) -> int:
        """Make claimed entries due again (their publish failed); ones removed or rescheduled
        meanwhile stay as they are. Returns how many came back."""
        back = 0
        for e in entries:
            if e.version not in self._claimed:
                continue
            self._claimed.discard(e.version)
            if self.current(e):
                heapq.heappush(self._heap, (e.due, e.version, e.key))
                back += 1
        return back

    def pop_due(self, now: datetime, limit: int | None = None) -> list[Entry[V]]:
        due = self.peek_due(now, limit)
        self.forget(due)
        return due

    # --- internals --------------------------------------------------------------------------

    def _unlink(self, entry: Entry[V]) -> None:
        del self._live[entry.key]
        self._claimed.discard(entry.version)
        keys = self._groups.get(entry.group)
        if keys is not None:
            keys.discard(entry.key)
            if not keys:
                del self._groups[entry.group]

    def _stale(self, item: tuple[datetime, int, str]) -> bool:
        # A claimed entry's item leaves the heap too; `unclaim` pushes it back.
        entry = self._live.get(item[2])
        return entry is None or entry.version != item[1] or item[1] in self._claimed

    def _prune(self) -> None:
        while self._heap and self._stale(self._heap[0]):
            heapq.heappop(self._heap)

    def _compact(self) -> None:
        # Lazy deletion leaves dead items behind; rebuild once they outnumber the live ones so
        # memory stays proportional to the live timers even under heavy cancel/reschedule churn.
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._heap = [
                (e.due, e.version, e.key) for e in self._live.values() if e.version not in self._claimed
            ]
            heapq.heapify(self._heap)
