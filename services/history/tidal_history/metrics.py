"""History's metrics (listed in docs/observability.md). The shard processor is the engine's
throughput bottleneck, so recording is per batch where it can be, and labelled children are
cached instead of resolved with `labels()` per message."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from tidal_server.metrics import LATENCY_BUCKETS, PERSISTENCE_SECONDS

from .cache import RunCache
from .outcome import Outcome
from .schedule_store import ScheduleWrite
from .store import RunWrite

MESSAGES = Counter("tidal_history_messages_total", "History messages applied, by message type.", ["type"])
BATCH_SECONDS = Histogram(
    "tidal_history_batch_duration_seconds",
    "One shard batch: apply, commit, publish the outbox, reply and ack.",
    buckets=LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "tidal_history_batch_messages",
    "Messages per shard batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
BATCH_FAILURES = Counter(
    "tidal_history_batch_failures_total",
    "Shard batches that failed, by cause: transient (database or broker unavailable: requeued and "
    "retried with backoff) or message (a message failed it: the batch was bisected to isolate it).",
    ["cause"],
)
POISON = Counter(
    "tidal_history_poison_messages_total",
    "Messages that failed on their own, by outcome: retried (republished after a backoff), "
    "failed_task (a workflow task completion turned into WorkflowTaskFailed), dead_lettered.",
    ["outcome"],
)
OUTBOX_LAG = Histogram(
    "tidal_history_outbox_lag_seconds",
    "From the commit of a batch to the broker's confirm of its outbox messages.",
    buckets=LATENCY_BUCKETS,
)
OUTBOX_PUBLISHED = Counter(
    "tidal_history_outbox_published_total",
    "Outbox messages published, by path (batch = right after commit, relay = after a failure or takeover).",
    ["path"],
)
TRANSITIONS = Counter(
    "tidal_history_state_transitions_total",
    "History events written, by event type (each is one state transition of a run).",
    ["event_type"],
)
WORKFLOWS_STARTED = Counter(
    "tidal_workflow_started_total",
    "Workflow runs started, by namespace and type.",
    ["namespace", "workflow_type"],
)
WORKFLOWS_CLOSED = Counter(
    "tidal_workflow_closed_total",
    "Workflow runs closed, by namespace, type and status (completed, failed, canceled, terminated, "
    "timed_out, continued_as_new).",
    ["namespace", "workflow_type", "status"],
)
WORKFLOW_SECONDS = Histogram(
    "tidal_workflow_duration_seconds",
    "Start to close of workflow runs, by namespace and type.",
    ["namespace", "workflow_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400),
)
SCHEDULE_ACTIONS = Counter(
    "tidal_schedule_actions_total",
    "Schedule actions by outcome: taken (a run started), skipped (overlap policy), missed (past the "
    "catch-up window), buffered (waiting for a running run to close); and how the runs they started "
    "ended: completed, failed (failed, timed out, or could not start).",
    ["namespace", "outcome"],
)
SHARDS_OWNED = Gauge("tidal_history_shards_owned", "Shards this history process owns.")
SHARD_COUNT = Gauge("tidal_history_shards_configured", "Shards in the cluster (TIDAL_SHARD_COUNT).")
SHARD_ACQUIRED = Counter("tidal_history_shard_acquisitions_total", "Shards this process took over.")
SHARD_LOST = Counter(
    "tidal_history_shard_losses_total", "Shards this process lost to a newer owner (fenced out)."
)

LIMIT_WARNINGS = Counter(
    "tidal_history_limit_warnings_total",
    "Runs whose history crossed a warning level (limit: count or size).",
    ["limit"],
)
LIMIT_TERMINATIONS = Counter(
    "tidal_history_limit_terminations_total",
    "Runs terminated for reaching a history limit (limit: count or size).",
    ["limit"],
)
OUTBOX_DEAD_LETTERED = Counter(
    "tidal_history_outbox_dead_lettered_total",
    "Outbox messages that could not be published (reason: too_large) and went to the dead-letter queue.",
    ["reason"],
)
PARTIAL_WORKFLOW_TASKS = Counter(
    "tidal_history_partial_workflow_tasks_total",
    "Workflow tasks sent with only part of the history (kind: sticky = to a sticky queue, "
    "paged = the worker reads the older events).",
    ["kind"],
)
FUSED_COMPLETIONS = Counter(
    "tidal_history_fused_completions_total",
    "Activity results that carried the next workflow task's completion (api/fused_completion.py), "
    "by result: accepted (one transaction), refused (the result alone), stale (neither applied).",
    ["result"],
)
WORKER_DISPATCH = Counter(
    "tidal_history_worker_dispatch_total",
    "Tasks history published straight to a worker's own queue, skipping matching (kind: workflow "
    "= a sticky workflow task, activity = an eager activity), by result: direct = the worker's "
    "queue took it, fallback = the queue was gone and the task went to matching's shared queue.",
    ["kind", "result"],
)
CACHE_BYTES = Gauge(
    "tidal_history_cache_bytes", "Estimated memory held by the run cache (TIDAL_CACHE_MAX_BYTES bounds it)."
)
CACHE_MAX_BYTES = Gauge("tidal_history_cache_max_bytes", "The run cache's budget (TIDAL_CACHE_MAX_BYTES).")
CACHE_RUNS = Gauge(
    "tidal_history_cache_runs", "Runs in the run cache, by status (running, closed).", ["status"]
)
CACHE_EVICTIONS = Counter(
    "tidal_history_cache_evictions_total",
    "Runs evicted from the run cache to stay within its budget, by status (closed ones go first).",
    ["status"],
)
_EVICTED_RUNNING = CACHE_EVICTIONS.labels("running")
_EVICTED_CLOSED = CACHE_EVICTIONS.labels("closed")

COMMIT_SECONDS = PERSISTENCE_SECONDS.labels("history", "commit")
LOAD_RUN_SECONDS = PERSISTENCE_SECONDS.labels("history", "load_run")
RELAYED = OUTBOX_PUBLISHED.labels("relay")
PUBLISHED = OUTBOX_PUBLISHED.labels("batch")
TRANSIENT_FAILURES = BATCH_FAILURES.labels("transient")
MESSAGE_FAILURES = BATCH_FAILURES.labels("message")
POISON_RETRIED = POISON.labels("retried")
POISON_FAILED_TASK = POISON.labels("failed_task")
POISON_DEAD_LETTERED = POISON.labels("dead_lettered")

_CLOSE_STATUS = {
    "WorkflowExecutionCompleted": "completed",
    "WorkflowExecutionFailed": "failed",
    "WorkflowExecutionCanceled": "canceled",
    "WorkflowExecutionTerminated": "terminated",
    "WorkflowExecutionTimedOut": "timed_out",
    "WorkflowExecutionContinuedAsNew": "continued_as_new",
}
_children: dict[tuple[object, tuple[str, ...]], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def message(type_name: str) -> None:
    _child(MESSAGES, type_name).inc()


def fused_result(outcome: Outcome) -> str:
    """Only an accepted fused completion writes a WorkflowTaskStarted with the result."""
    if not outcome.changed:
        return "stale"
    if any(e.attributes.type == "WorkflowTaskStarted" for e in outcome.events):
        return "accepted"
    return "refused"


def fused_completions(results: Sequence[str]) -> None:
    """Count a batch's fused completions once it committed (a batch that fails and is applied
    again is counted when it commits, not at each try)."""
    for result in results:
        _child(FUSED_COMPLETIONS, result).inc()


def committed(writes: Sequence[RunWrite]) -> None:
    """Count what a committed batch did to its runs: one increment per event type per batch (each
    `inc` takes the value's lock), not one per event."""
    kinds: dict[str, int] = {}
    for w in writes:
        st = w.state
        for e in w.events:
            kind = e.attributes.type
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "WorkflowExecutionStarted":
                _child(WORKFLOWS_STARTED, st.namespace, st.workflow_type).inc()
            elif kind in _CLOSE_STATUS:
                _child(WORKFLOWS_CLOSED, st.namespace, st.workflow_type, _CLOSE_STATUS[kind]).inc()
                seconds = (e.event_time - st.start_time).total_seconds()
                _child(WORKFLOW_SECONDS, st.namespace, st.workflow_type).observe(max(seconds, 0.0))
    for event_type, n in kinds.items():
        _child(TRANSITIONS, event_type).inc(n)


def schedules_committed(writes: Sequence[ScheduleWrite]) -> None:
    for w in writes:
        for outcome, n in w.figures.items():
            if n:
                _child(SCHEDULE_ACTIONS, w.doc.namespace, outcome).inc(n)


def watch_cache(cache: RunCache) -> None:
    """Read at scrape time: nothing is recorded per batch."""
    CACHE_BYTES.set_function(lambda: cache.bytes)
    CACHE_MAX_BYTES.set(cache.max_bytes)
    CACHE_RUNS.labels("running").set_function(lambda: cache.running_runs)
    CACHE_RUNS.labels("closed").set_function(lambda: cache.closed_runs)


def cache_evicted(running: bool) -> None:
    (_EVICTED_RUNNING if running else _EVICTED_CLOSED).inc()


def now() -> float:
    return time.perf_counter()
