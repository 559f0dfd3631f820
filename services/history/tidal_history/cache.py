"""In-memory cache of runs owned by this process (mutable state + history events)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tidal_schema import HistoryEvent

from .state import MutableState

RunKey = tuple[str, str, str]  # namespace, workflow_id, run_id


@dataclass(kw_only=True)
class CachedRun:
    state: MutableState
    version: int
    events: list[HistoryEvent]


class RunCache:
    """LRU by run. Entries are only replaced after a commit, never mutated by a batch."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._runs: OrderedDict[RunKey, CachedRun] = OrderedDict()
        # workflow id -> its current run id, for messages that do not name a run.
        self._current: dict[tuple[str, str], str] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: RunKey) -> CachedRun | None:
        run = self._runs.get(key)
        if run is None:
            self.misses += 1
            return None
        self.hits += 1
        self._runs.move_to_end(key)
        return run

    def current_run_id(self, namespace: str, workflow_id: str) -> str | None:
        return self._current.get((namespace, workflow_id))

    def put(self, key: RunKey, run: CachedRun) -> None:
        self._runs[key] = run
        self._runs.move_to_end(key)
        self._current[(key[0], key[1])] = key[2]
        while len(self._runs) > self._capacity:
            (ns, wf, _), _old = self._runs.popitem(last=False)
            self._current.pop((ns, wf), None)

    def discard(self, key: RunKey) -> None:
        """The run is gone (retention): forget it and, if it was current, its workflow id."""
        self._runs.pop(key, None)
        if self._current.get((key[0], key[1])) == key[2]:
            del self._current[(key[0], key[1])]

    def clear(self) -> None:
        self._runs.clear()
        self._current.clear()
