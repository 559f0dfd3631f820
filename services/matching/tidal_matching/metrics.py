"""Matching's metrics (listed in docs/observability.md). Labels: task kind, namespace and task
queue (bounded by the deployment's task queues; never a workflow or worker id)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from tidal_server.metrics import LATENCY_BUCKETS

TASKS = Counter(
    "tidal_matching_tasks_dispatched_total",
    "Tasks handed to a worker queue, by kind (workflow, activity) and target (sticky, shared).",
    ["kind", "target"],
)
STICKY = Counter(
    "tidal_matching_sticky_dispatch_total",
    "Queries with a sticky queue: hit = the sticky worker took it, miss = its queue was gone and "
    "the query fell back to the shared queue (history sends sticky workflow tasks itself).",
    ["result"],
)
DISPATCH_SECONDS = Histogram(
    "tidal_matching_dispatch_duration_seconds",
    "From receiving a task to the broker's confirm of its delivery to a worker queue.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
BACKLOG = Gauge(
    "tidal_matching_task_queue_backlog",
    "Tasks waiting in a task queue's worker queue (ready, not yet delivered to a worker), sampled "
    "every backlog_poll_seconds; kind activity_held: in its held queue, for its rate limit.",
    ["namespace", "task_queue", "kind"],
)
RATE_LIMIT = Gauge(
    "tidal_matching_task_queue_rate_limit",
    "A task queue's activity dispatch rate as workers declared it (max_task_queue_activities_per_"
    "second), tasks per second; 0 once it lapsed. Refreshed every backlog_poll_seconds.",
    ["namespace", "task_queue"],
)
HELD = Counter(
    "tidal_matching_rate_limited_tasks_total",
    "Activity tasks held back for their task queue's rate limit before they went to its worker queue.",
    ["namespace", "task_queue"],
)
REPUBLISHED = Counter(
    "tidal_matching_tasks_republished_total",
    "Workflow tasks published again after a broker reconnect because their worker queue was young "
    "(declared within young_queue_seconds) when the connection was lost.",
)
KEPT_BYTES = Gauge(
    "tidal_matching_young_queue_kept_bytes",
    "Bytes of workflow tasks kept to be published again should the broker lose a young queue.",
)

STICKY_HIT = STICKY.labels("hit")
STICKY_MISS = STICKY.labels("miss")
