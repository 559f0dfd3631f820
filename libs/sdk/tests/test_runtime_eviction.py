"""Safe workflow eviction (temporalio's default) and `disable_safe_workflow_eviction`: a run that
leaves the worker's cache has its coroutines cancelled and unwound in the workflow's context, or,
with the flag, is just dropped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from datetime import timedelta

import pytest
from tidal import workflow
from tidal._run_cache import RunCache
from tidal._runtime import WorkflowInstance
from tidal._runtime.eviction import MAX_TEARDOWN_ROUNDS
from tidal._runtime.history_builder import HistoryBuilder
from tidal.client import WorkflowHistory
from tidal.worker import Replayer

# The dropped (unsafe) runs' coroutines are closed by the garbage collector, outside the
# workflow, where their cleanup fails: exactly what the flag risks, reported as unraisable.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

CLEANUPS: list[tuple[str, str]] = []


@workflow.defn
class Waiting:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.wait_condition(lambda: False)
        finally:
            try:  # workflow.info() works only in the workflow's context: when torn down safely
                CLEANUPS.append((workflow.info().workflow_id, "finally"))
            except RuntimeError:
                return  # closed by the garbage collector (unsafe eviction)
            workflow.start_activity("cleanup", start_to_close_timeout=timedelta(seconds=1))

    @workflow.signal
    async def hold(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            CLEANUPS.append((workflow.info().workflow_id, "handler"))
            raise


@workflow.defn
class Stubborn:
    @workflow.run
    async def run(self) -> None:
        while True:
            try:
                await workflow.wait_condition(lambda: False)
            except asyncio.CancelledError:
                pass  # never gives up


RELEASE = threading.Event()


@workflow.defn
class BlocksInCleanup:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.wait_condition(lambda: False)
        finally:
            RELEASE.wait(60)  # cleanup code that blocks (sync I/O, a lock, a busy loop)
            CLEANUPS.append((workflow.info().workflow_id, "unblocked"))


def _started(cls: type, workflow_id: str) -> WorkflowInstance:
    h = HistoryBuilder(workflow.get_definition(cls).name, workflow_id=workflow_id)
    if cls is Waiting:
        h.signal("hold")
    inst = WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )
    inst.activate(h.task())
    return inst


def test_safe_eviction_unwinds_the_run_and_handlers_in_the_workflow_and_drops_their_commands() -> None:
    CLEANUPS.clear()
    cache = RunCache(capacity=1)
    first = _started(Waiting, "wf-first")
    cache[first.run_id] = first
    cache["other"] = _started(Waiting, "wf-other")  # over capacity: the first run is evicted
    assert sorted(CLEANUPS) == [("wf-first", "finally"), ("wf-first", "handler")]
    assert first.state.commands == []  # what cleanup asked for never reaches history
    assert list(cache) == ["other"]
    cache.clear()
    assert len(CLEANUPS) == 4
    assert first.evict() == 0  # once only


def test_disabled_safe_eviction_just_drops_the_run() -> None:
    CLEANUPS.clear()
    cache = RunCache(capacity=1, safe_eviction=False)
    first = _started(Waiting, "wf-first")
    cache[first.run_id] = first
    cache["other"] = _started(Waiting, "wf-other")
    cache.clear()
    assert list(cache) == []
    del first
    gc.collect()
    assert CLEANUPS == []  # the garbage collector closed them, outside the workflow


def test_a_run_busy_on_a_workflow_thread_is_dropped_untouched() -> None:
    CLEANUPS.clear()
    busy: set[str] = set()
    cache = RunCache(capacity=5, busy=busy)
    inst = _started(Waiting, "wf-busy")
    cache[inst.run_id] = inst
    busy.add(inst.run_id)
    del cache[inst.run_id]
    assert CLEANUPS == []
    del inst
    gc.collect()  # (closed outside the workflow, here rather than in a later test)


def test_a_coroutine_that_will_not_stop_is_abandoned_after_bounded_rounds() -> None:
    inst = _started(Stubborn, "wf-stubborn")
    assert MAX_TEARDOWN_ROUNDS > 1
    assert inst.evict() == 1


def _waiting_history(workflow_id: str) -> WorkflowHistory:
    h = HistoryBuilder("Waiting", workflow_id=workflow_id)
    inst = WorkflowInstance(
        definition=workflow.get_definition(Waiting),
        namespace="default",
        workflow_id=workflow_id,
        run_id=h.run_id,
    )
    h.complete_task(inst.activate(h.task()))
    inst.evict()  # (its own cleanup, recorded under this id, is not what the replays check)
    return WorkflowHistory(workflow_id, tuple(h.events), run_id=h.run_id)


async def test_the_replayer_tears_each_replayed_run_down_unless_disabled() -> None:
    history = _waiting_history("wf-replay")
    CLEANUPS.clear()
    assert (await Replayer(workflows=[Waiting]).replay_workflow(history)).replay_failure is None
    assert CLEANUPS == [("wf-replay", "finally")]
    CLEANUPS.clear()
    unsafe = Replayer(workflows=[Waiting], disable_safe_workflow_eviction=True)
    assert unsafe.config()["disable_safe_workflow_eviction"] is True
    assert (await unsafe.replay_workflow(history)).replay_failure is None
    gc.collect()
    assert CLEANUPS == []


def test_a_teardown_that_blocks_holds_a_workflow_thread_not_the_worker() -> None:
    """With workflow threads (the worker's default: deadlock detection), the teardown runs on one
    of them and is not waited for: cleanup code that blocks cannot freeze the worker's loop."""
    CLEANUPS.clear()
    RELEASE.clear()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    cache = RunCache(capacity=1, threads=lambda: pool)
    try:
        blocked = _started(BlocksInCleanup, "wf-blocked")
        cache[blocked.run_id] = blocked
        cache["other"] = _started(Waiting, "wf-other")  # evicts the blocked run: returns at once
        assert list(cache) == ["other"] and CLEANUPS == []
        RELEASE.set()
        pool.submit(lambda: None).result(timeout=10)  # the teardown before it has finished
        assert CLEANUPS == [("wf-blocked", "unblocked")]
    finally:
        RELEASE.set()
        pool.shutdown(wait=True)


@workflow.defn
class Finishes:
    @workflow.run
    async def run(self) -> str:
        return "done"


class _NoThreads(concurrent.futures.ThreadPoolExecutor):
    """A pool that counts what is handed to it and runs nothing."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted += 1
        return concurrent.futures.Future()


def test_a_finished_run_is_torn_down_inline_and_a_waiting_one_on_a_thread() -> None:
    """Without pending coroutines a teardown runs no workflow code, so it needs no thread
    hand-off; a run with code left to unwind still goes to a workflow thread."""
    pool = _NoThreads()
    cache = RunCache(capacity=5, threads=lambda: pool)
    try:
        done = _started(Finishes, "wf-done")
        assert not done.has_pending_code
        cache[done.run_id] = done
        del cache[done.run_id]
        assert pool.submitted == 0
        assert done.evict() == 0  # evicted already: once only
        waiting = _started(Waiting, "wf-waiting")
        assert waiting.has_pending_code
        cache[waiting.run_id] = waiting
        del cache[waiting.run_id]
        assert pool.submitted == 1
        assert waiting.has_pending_code  # (left to the thread, which this pool never runs)
        waiting.evict()
        assert not waiting.has_pending_code
    finally:
        pool.shutdown(wait=True)
