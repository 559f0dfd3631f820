"""The history process's in-memory cache of runs (mutable state + history events), bounded by
an estimate of the memory it holds, and the current run of each cached workflow id.

Two rules keep it honest:

- **The current-run pointer follows `current_executions` only.** It moves when a committed
  batch moved that row (a new run: a start, a continue-as-new or retry successor; see
  `HistoryStore._write_run`), or when the row was just read from the database. Caching a run
  never moves it: a closed run re-cached after its retention check or any other write stays
  what it is, an old run (issue 9, defect 2).
- **Bounded by bytes, closed runs first.** Each entry is charged an estimate of its memory,
  from the JSON sizes the store already has (written or read); when the total passes the
  budget, the least recently used closed runs go first, then running ones. A closed run is
  rarely touched again (a query, its retention check), while a running one will be.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tidal_schema import HistoryEvent

from .state import MutableState

__all__ = ["MEMORY_PER_JSON_CHAR", "CachedRun", "RunCache", "RunKey", "ShardCache"]

RunKey = tuple[str, str, str]  # namespace, workflow_id, run_id

# Memory of a cached run per character of its JSON (state document + events). Measured with
# tracemalloc on a one-activity run (3.5 KB of JSON, ~24 KiB of pydantic objects; see
# tests/test_cache.py, which checks the estimate stays within a factor of two).
MEMORY_PER_JSON_CHAR = 7
# Dict entries, the CachedRun itself, the key tuple: charged once per entry.
_ENTRY_OVERHEAD = 600


@dataclass(kw_only=True)
class CachedRun:
    state: MutableState
    version: int
    events: list[HistoryEvent]
    # JSON characters of the state document as last written or read, and of all its events.
    state_chars: int = 0
    events_chars: int = 0

    @property
    def estimated_bytes(self) -> int:
        return _ENTRY_OVERHEAD + MEMORY_PER_JSON_CHAR * (self.state_chars + self.events_chars)


class RunCache:
    """LRU by run, closed runs evicted before running ones, bounded by `max_bytes` (estimated)
    and `max_runs`. Shared by the shard processors of one history process: one budget, wherever
    the work is. Entries are only replaced after a commit; every operation is synchronous, so
    the shard loops (one event loop) never see it half-changed."""

    def __init__(
        self, *, max_bytes: int, max_runs: int, on_evict: Callable[[bool], None] | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self.max_runs = max_runs
        self._on_evict = on_evict  # called with whether the evicted run was running
        self._running: OrderedDict[RunKey, CachedRun] = OrderedDict()
        self._closed: OrderedDict[RunKey, CachedRun] = OrderedDict()
        # What each entry was charged when it was put (a batch changes runs in place before
        # putting them back, so the charge cannot be recomputed from the run).
        self._charged: dict[RunKey, int] = {}
        self._shard_keys: dict[int, set[RunKey]] = {}
        # workflow id -> its current run id, for messages that do not name a run. Only for
        # runs in the cache, so it is bounded with it.
        self._current: dict[tuple[str, str], str] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evicted_running = 0
        self.evicted_closed = 0

    def __len__(self) -> int:
        return len(self._charged)

    @property
    def running_runs(self) -> int:
        return len(self._running)

    @property
    def closed_runs(self) -> int:
        return len(self._closed)

    def __contains__(self, key: RunKey) -> bool:
        return key in self._charged

    def get(self, key: RunKey) -> CachedRun | None:
        for entries in (self._running, self._closed):
            run = entries.get(key)
            if run is not None:
                self.hits += 1
                entries.move_to_end(key)
                return run
        self.misses += 1
        return None

    def current_run_id(self, namespace: str, workflow_id: str) -> str | None:
        return self._current.get((namespace, workflow_id))

    def note_current(self, namespace: str, workflow_id: str, run_id: str) -> None:
        """`current_executions` was just read and names `run_id`: remember it if that run is
        cached (otherwise the pointer would outlive the bound)."""
        if (namespace, workflow_id, run_id) in self._charged:
            self._current[(namespace, workflow_id)] = run_id

    def put(self, key: RunKey, run: CachedRun, *, current: bool = False) -> None:
        """Cache a committed run. `current`: the commit made it the workflow id's current run
        (it wrote the `current_executions` row)."""
        self._forget(key)
        entries = self._running if run.state.is_running else self._closed
        entries[key] = run
        charge = run.estimated_bytes
        self._charged[key] = charge
        self.bytes += charge
        self._shard_keys.setdefault(run.state.shard_id, set()).add(key)
        if current:
            self._current[(key[0], key[1])] = key[2]
        self._evict()

    def discard(self, key: RunKey) -> None:
        """The run is gone (retention): forget it and, if it was current, its workflow id."""
        self._forget(key)

    def clear_shard(self, shard_id: int) -> None:
        """Drop one shard's runs: its batch failed (a cached run may be ahead of the database)
        or the shard moved to another process."""
        for key in list(self._shard_keys.pop(shard_id, ())):
            self._forget(key)

    def clear(self) -> None:
        for key in list(self._charged):
            self._forget(key)

    def _evict(self) -> None:
        while self._charged and (self.bytes > self.max_bytes or len(self._charged) > self.max_runs):
            running = not self._closed
            key = next(iter(self._running if running else self._closed))
            self._forget(key)
            if running:
                self.evicted_running += 1
            else:
                self.evicted_closed += 1
            if self._on_evict is not None:
                self._on_evict(running)

    def _forget(self, key: RunKey) -> None:
        run = self._running.pop(key, None) or self._closed.pop(key, None)
        if run is None:
            return
        self.bytes -= self._charged.pop(key)
        keys = self._shard_keys.get(run.state.shard_id)
        if keys is not None:
            keys.discard(key)
        if self._current.get((key[0], key[1])) == key[2]:
            del self._current[(key[0], key[1])]


class ShardCache:
    """One shard's view of the process's RunCache (what a ShardProcessor holds): `clear` drops
    only this shard's runs."""

    def __init__(self, cache: RunCache, shard_id: int) -> None:
        self._cache = cache
        self._shard_id = shard_id

    def get(self, key: RunKey) -> CachedRun | None:
        return self._cache.get(key)

    def current_run_id(self, namespace: str, workflow_id: str) -> str | None:
        return self._cache.current_run_id(namespace, workflow_id)

    def note_current(self, namespace: str, workflow_id: str, run_id: str) -> None:
        self._cache.note_current(namespace, workflow_id, run_id)

    def put(self, key: RunKey, run: CachedRun, *, current: bool = False) -> None:
        self._cache.put(key, run, current=current)

    def discard(self, key: RunKey) -> None:
        self._cache.discard(key)

    def clear(self) -> None:
        self._cache.clear_shard(self._shard_id)
