"""The run cache: bounded by estimated bytes, closed runs evicted first, and a current-run pointer
that only a new run's commit (or a read of current_executions) moves."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_activity_task, complete_workflow_task, start_workflow
from tidal_history.cache import MEMORY_PER_JSON_CHAR, CachedRun, RunCache, RunKey, ShardCache
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.state import MutableState
from tidal_schema import HistoryEvent, Payload, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.messages import CompleteActivityTask, CompleteWorkflowTask, StartWorkflowExecution

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(
    run_id: str, *, running: bool = True, chars: int = 1000, wf: str = "wf", shard: int = 0
) -> CachedRun:
    state = MutableState(
        namespace="ns",
        workflow_id=wf,
        run_id=run_id,
        workflow_type="T",
        task_queue="q",
        shard_id=shard,
        start_time=T0,
        start_request_id="r",
        status=WorkflowExecutionStatus.RUNNING if running else WorkflowExecutionStatus.COMPLETED,
    )
    return CachedRun(state=state, version=1, events=[], state_chars=chars)


def _key(run: CachedRun) -> RunKey:
    st = run.state
    return (st.namespace, st.workflow_id, st.run_id)


def test_the_pointer_moves_only_with_a_new_run() -> None:
    cache = RunCache(max_bytes=10**9, max_runs=1000)
    a, b = _run("A", running=False), _run("B")
    cache.put(_key(a), a, current=True)
    cache.put(_key(b), b, current=True)  # continue-as-new: B's commit moved current_executions
    assert cache.current_run_id("ns", "wf") == "B"
    cache.put(_key(a), a)  # A written again (its retention check re-armed): not current
    assert cache.current_run_id("ns", "wf") == "B"
    cache.discard(_key(a))  # A purged: B stays current
    assert cache.current_run_id("ns", "wf") == "B"
    cache.discard(_key(b))
    assert cache.current_run_id("ns", "wf") is None


def test_note_current_only_for_a_cached_run() -> None:
    cache = RunCache(max_bytes=10**9, max_runs=1000)
    cache.note_current("ns", "wf", "B")  # not cached: the pointer would outlive the bound
    assert cache.current_run_id("ns", "wf") is None
    b = _run("B")
    cache.put(_key(b), b)
    cache.note_current("ns", "wf", "B")
    assert cache.current_run_id("ns", "wf") == "B"


def test_evicting_an_old_run_keeps_the_pointer_and_evicting_the_current_drops_it() -> None:
    evicted: list[bool] = []
    a, b = _run("A", running=False), _run("B")
    cache = RunCache(max_bytes=a.estimated_bytes + b.estimated_bytes, max_runs=1000, on_evict=evicted.append)
    cache.put(_key(b), b, current=True)
    cache.put(_key(a), a)
    other = _run("C", wf="other")
    cache.put(_key(other), other, current=True)  # over budget: the closed A goes first
    assert _key(a) not in cache and _key(b) in cache and evicted == [False]
    assert cache.current_run_id("ns", "wf") == "B"
    d = _run("D", wf="third")
    cache.put(_key(d), d, current=True)  # then the least recently used running run: B
    assert _key(b) not in cache and evicted == [False, True]
    assert cache.current_run_id("ns", "wf") is None  # a miss reads current_executions again


def test_closed_runs_go_first_whatever_their_recency() -> None:
    runs = [_run(f"R{i}", wf=f"w{i}") for i in range(5)] + [
        _run(f"C{i}", wf=f"c{i}", running=False) for i in range(5)
    ]
    cache = RunCache(max_bytes=10**9, max_runs=1000)
    for r in runs:
        cache.put(_key(r), r)
    for r in runs[5:]:
        assert cache.get(_key(r)) is r  # the closed ones are the most recently used
    cache.max_bytes = cache.bytes - 1
    cache.put(_key(runs[0]), runs[0])  # a put re-checks the bound
    assert [r.state.run_id for r in runs if _key(r) in cache] == [
        "R0",
        "R1",
        "R2",
        "R3",
        "R4",
        "C1",
        "C2",
        "C3",
        "C4",
    ]
    assert cache.running_runs == 5 and cache.closed_runs == 4


def test_the_byte_bound_holds_and_the_charge_follows_each_put() -> None:
    cache = RunCache(max_bytes=100_000, max_runs=10_000)
    for i in range(200):
        r = _run(f"R{i}", wf=f"w{i}", running=i % 2 == 0, chars=500 + i * 10)
        cache.put(_key(r), r)
        assert cache.bytes <= cache.max_bytes
    assert cache.bytes == sum(cache._charged.values())
    assert 0 < len(cache) < 200 and cache.evicted_closed > 0
    # A run that grew (more events) is charged again at its next put, not twice.
    cache = RunCache(max_bytes=10**9, max_runs=10_000)
    r = _run("grow", wf="grow")
    cache.put(_key(r), r)
    before = cache.bytes
    r.events_chars += 700
    cache.put(_key(r), r)
    assert cache.bytes - before == 700 * MEMORY_PER_JSON_CHAR


def test_the_run_count_is_a_backstop() -> None:
    cache = RunCache(max_bytes=10**12, max_runs=3)
    for i in range(10):
        r = _run(f"R{i}", wf=f"w{i}")
        cache.put(_key(r), r)
    assert len(cache) == 3


def test_a_shard_clears_only_its_own_runs() -> None:
    shared = RunCache(max_bytes=10**9, max_runs=1000)
    s0, s1 = ShardCache(shared, 0), ShardCache(shared, 1)
    a, b = _run("A", shard=0), _run("B", wf="other", shard=1)
    s0.put(_key(a), a, current=True)
    s1.put(_key(b), b, current=True)
    s0.clear()
    assert _key(a) not in shared and shared.current_run_id("ns", "wf") is None
    assert s1.get(_key(b)) is b and shared.current_run_id("ns", "other") == "B"
    assert shared.bytes == b.estimated_bytes


def _one_activity_run() -> tuple[MutableState, list[HistoryEvent]]:
    """A trivial closed run, the shape the issue measured (about 19 KiB each in the cache)."""
    start = StartWorkflowExecution(
        workflow_id="w1", workflow_type="Order", task_queue="q", request_id="r1", input=(Payload(data="o-1"),)
    )
    o = start_workflow.handle(OperationContext(now=T0, current=None, new_run_id="run1", shard_id=3), start)
    assert o.state is not None
    state, history = o.state, list(o.events)
    sched = cmd.ScheduleActivityTask(
        activity_id="1", activity_type="a", task_queue="q", start_to_close_timeout=timedelta(seconds=5)
    )
    steps: list[Callable[[], Outcome]] = [
        lambda: complete_workflow_task.handle(
            OperationContext(now=T0, state=state, history=history),
            CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(sched,)),
        ),
        lambda: complete_activity_task.handle(
            OperationContext(now=T0, state=state, history=history),
            CompleteActivityTask(
                workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=1, result=(Payload(data="ok"),)
            ),
        ),
        lambda: complete_workflow_task.handle(
            OperationContext(now=T0, state=state, history=history),
            CompleteWorkflowTask(
                workflow_id="w1",
                run_id="run1",
                scheduled_event_id=state.workflow_task.scheduled_event_id,  # type: ignore[union-attr]
                commands=(cmd.CompleteWorkflowExecution(result=(Payload(data="done"),)),),
            ),
        ),
    ]
    for step in steps:
        history += step().events
    assert not state.is_running
    return state, history


def test_the_estimate_is_within_a_factor_of_two_of_the_measured_memory() -> None:
    state, history = _one_activity_run()
    state_json = state.model_dump_json()
    events_json = [e.model_dump_json() for e in history]
    estimate = CachedRun(
        state=state,
        version=1,
        events=history,
        state_chars=len(state_json),
        events_chars=sum(map(len, events_json)),
    ).estimated_bytes
    n = 300
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = [
            CachedRun(
                state=MutableState.model_validate_json(state_json),
                version=1,
                events=[HistoryEvent.model_validate_json(e) for e in events_json],
            )
            for _ in range(n)
        ]
        measured = (tracemalloc.get_traced_memory()[0] - base) / n
    finally:
        tracemalloc.stop()
    assert kept
    assert measured / 2 <= estimate <= measured * 2, (estimate, measured)
