"""The worker's metrics and spans.

Metrics register on prometheus_client's default registry; `Worker(metrics_port=...)` serves them.
Spans go through the OpenTelemetry API only: the application installs an SDK and exporter if it
wants them (the API alone still passes the trace context from task to completion). Names and
labels are listed in docs/observability.md; labels are bounded (task queue and workflow /
activity type names, never ids).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from prometheus_client import Counter, Gauge, Histogram, start_http_server

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

WORKFLOW_TASKS = Counter(
    "tidal_worker_workflow_tasks_total",
    "Workflow tasks run, by task queue, workflow type and outcome (completed, failed).",
    ["task_queue", "workflow_type", "outcome"],
)
WORKFLOW_TASK_SECONDS = Histogram(
    "tidal_worker_workflow_task_duration_seconds",
    "Time to run a workflow task (replay + activation) and report it, by task queue and type.",
    ["task_queue", "workflow_type"],
    buckets=_BUCKETS,
)
ACTIVITY_TASKS = Counter(
    "tidal_worker_activity_tasks_total",
    "Activity attempts run, by task queue, activity type and outcome (completed, failed, benign).",
    ["task_queue", "activity_type", "outcome"],
)
ACTIVITY_SECONDS = Histogram(
    "tidal_worker_activity_execution_seconds",
    "Time an activity attempt ran, by task queue and activity type.",
    ["task_queue", "activity_type"],
    buckets=_BUCKETS,
)
SCHEDULE_TO_START = Histogram(
    "tidal_worker_task_schedule_to_start_seconds",
    "From the task's scheduling in history to its start on this worker, by task queue and kind "
    "(workflow, activity). Compares the history host's clock with the worker's.",
    ["task_queue", "kind"],
    buckets=_BUCKETS,
)
STICKY_CACHE = Counter(
    "tidal_worker_sticky_cache_total",
    "Workflow tasks by whether the run was in this worker's cache (hit) or had to be replayed "
    "from its full history (miss).",
    ["task_queue", "result"],
)
HISTORY_FETCHES = Counter(
    "tidal_worker_history_fetches_total",
    "Workflow tasks that carried only part of the history and made the worker read the older "
    "events from the frontend, by task queue.",
    ["task_queue"],
)
FUSED_COMPLETIONS = Counter(
    "tidal_worker_fused_completions_total",
    "Successful eager activity attempts whose result could carry the next workflow task run by "
    'this worker (result="sent"), or why it went alone (result="skipped_<reason>").',
    ["task_queue", "result"],
)
FUSED_VERDICTS = Counter(
    "tidal_worker_fused_verdicts_total",
    "Fused completions by history's verdict as the worker learnt it: accepted, or refused (or not "
    "known: the worker replayed the run from history).",
    ["task_queue", "verdict"],
)
CACHED_WORKFLOWS = Gauge(
    "tidal_worker_cached_workflows", "Workflow runs cached by workers of a task queue.", ["task_queue"]
)

_tracer = trace.get_tracer("tidal.worker")

# Labelled children by (metric, label values): prometheus_client's labels() validates and takes a
# lock on every call, several times per task. Bounded as the registry's own children are.
_children: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: Counter | Gauge | Histogram, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


@contextlib.contextmanager
def task_span(name: str, headers: Mapping[str, Any], attributes: Mapping[str, str]) -> Iterator[Span]:
    """A span continuing the trace the task's message carries; completions published inside it
    carry it on."""
    if _not_recording() and not _carries_trace(headers):
        # No trace to continue and no SDK to record one: the span would be a no-op whose
        # context injects nothing, so it is skipped (a tenth of a workflow task's own CPU).
        yield trace.INVALID_SPAN
        return
    carrier = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
    parent = propagate.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
    with _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes={"tidal.service": "worker", **attributes}
    ) as span:
        yield span


def _not_recording() -> bool:
    """No tracer provider installed (the API's proxy, or its no-op): spans record nothing."""
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


_fields: tuple[object, frozenset[str]] = (None, frozenset())


def _carries_trace(headers: Mapping[str, Any]) -> bool:
    """Any header the global propagator reads (traceparent, baggage, ...)."""
    global _fields
    textmap = propagate.get_global_textmap()
    if _fields[0] is not textmap:
        _fields = (textmap, frozenset(textmap.fields))
    return not _fields[1].isdisjoint(headers)


def trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def since(scheduled: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - scheduled).total_seconds())


def now() -> float:
    return time.perf_counter()


class MetricsServer:
    """prometheus_client's HTTP server on its own thread (a scrape never waits for the loop)."""

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._server, self._thread = start_http_server(port, addr=host)
        self.port: int = self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
