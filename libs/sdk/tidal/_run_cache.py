"""The worker's cache of workflow runs (sticky execution), least recently used first. A run that
leaves it is evicted safely by default (temporalio's eviction: its coroutines are cancelled and
unwound in the workflow's context, _runtime/eviction.py); `Worker(disable_safe_workflow_eviction=
True)` just drops it for the garbage collector.

The teardown runs workflow code (`finally` blocks), so it runs where workflow code runs: on a
workflow thread when the worker has them, so cleanup code that blocks or spins holds one of
those threads (and is logged) instead of the worker's event loop."""

from __future__ import annotations

import concurrent.futures
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, MutableMapping

from ._runtime import WorkflowInstance

__all__ = ["RunCache"]

log = logging.getLogger("tidal.worker")


class RunCache(MutableMapping[str, WorkflowInstance]):
    def __init__(
        self,
        *,
        capacity: int,
        safe_eviction: bool = True,
        busy: Collection[str] = (),
        threads: Callable[[], concurrent.futures.Executor | None] = lambda: None,
    ) -> None:
        """`busy`: ids of runs whose code is running on a workflow thread right now; tearing
        one of those down from the worker's thread would race that thread, so it is only dropped.
        `threads`: the worker's workflow threads, if any (asked at each eviction: they go away
        at shutdown); a teardown runs there without being waited for."""
        self._runs: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._capacity = capacity
        self._safe = safe_eviction
        self._busy = busy
        self._threads = threads

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
        pool = self._threads()
        if pool is None or not instance.has_pending_code:
            # Without pending coroutines no workflow code runs in the teardown (the common case:
            # a run that completed), so no thread hand-off is needed to keep the loop safe.
            _tear_down(instance)
            return
        try:
            pool.submit(_tear_down, instance)
        except RuntimeError:
            # The worker is shutting its threads down: dropped, as with safe eviction disabled.
            log.debug("workflow %s dropped without teardown (worker stopping)", instance.workflow_id)


def _tear_down(instance: WorkflowInstance) -> None:
    try:
        left = instance.evict()
    except Exception:
        # Cleanup code failing must not fail the worker: the instance is dropped anyway.
        log.warning("evicting workflow %s failed", instance.workflow_id, exc_info=True)
        return
    if left:
        log.warning("evicted workflow %s left %d coroutines unfinished", instance.workflow_id, left)
