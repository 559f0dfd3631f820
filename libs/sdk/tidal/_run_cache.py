"""The worker's cache of workflow runs (sticky execution), least recently used first. A run that
leaves it is evicted safely by default (temporalio's eviction: its coroutines are cancelled and
unwound in the workflow's context, _runtime/eviction.py); `Worker(disable_safe_workflow_eviction=
True)` just drops it for the garbage collector."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Iterator, MutableMapping

from ._runtime import WorkflowInstance

__all__ = ["RunCache"]

log = logging.getLogger("tidal.worker")


class RunCache(MutableMapping[str, WorkflowInstance]):
    def __init__(self, *, capacity: int, safe_eviction: bool = True, busy: Collection[str] = ()) -> None:
        """`busy`: ids of runs whose code is running on a workflow thread right now; tearing
        one of those down from the worker's thread would race that thread, so it is only dropped."""
        self._runs: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._capacity = capacity
        self._safe = safe_eviction
        self._busy = busy

    def __getitem__(self, run_id: str) -> WorkflowInstance:
        return self._runs[run_id]

    def __setitem__(self, run_id: str, instance: WorkflowInstance) -> None:
        """Cache `instance` as the most recent run; the least recent ones over capacity leave."""
        old = self._runs.get(run_id)
        self._runs[run_id] = instance
        self._runs.move_to_end(run_id)
        if old is not None and old is not instance:
            self.evict(old)  # replaced by a fresh replay
        while len(self._runs) > self._capacity:
            _, lru = self._runs.popitem(last=False)
            self.evict(lru)

    def __delitem__(self, run_id: str) -> None:
        self.evict(self._runs.pop(run_id))

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def drop(self, run_id: str) -> None:
        """Forget a run without touching it: its code may still be running on an abandoned
        workflow thread (a deadlock), where tearing it down from here would race that thread."""
        self._runs.pop(run_id, None)

    def evict(self, instance: WorkflowInstance) -> None:
        """Tear down an instance that leaves the worker (cached or not), unless disabled."""
        if not self._safe or instance.run_id in self._busy:
            return
        try:
            left = instance.evict()
        except Exception:
            # Cleanup code failing must not fail the worker: the instance is dropped anyway.
            log.warning("evicting workflow %s failed", instance.workflow_id, exc_info=True)
            return
        if left:
            log.warning(
                "evicted workflow %s left %d coroutines that would not finish", instance.workflow_id, left
            )
