"""Writes the Grafana dashboards of this directory: `uv run python deploy/grafana/dashboards/generate.py`.

The JSON files are the artefact Grafana provisions; this script is their source, so panels stay
uniform (datasource uid `prometheus`, one layout) and the tests can read every query from one
place. Queries use fixed rate windows (no Grafana variables) so they parse as plain PromQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: dict[str, str]
    """legend format -> PromQL"""
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[tuple[str, list[Panel]]] = field(default_factory=list)


def q(expr: str, legend: str = "") -> dict[str, str]:
    return {legend: expr}


def p99(metric: str, by: str = "", window: str = "1m", quantile: str = "0.99", selector: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({quantile}, sum by ({group}) (rate({metric}_bucket{selector}[{window}])))"


def quantiles(metric: str, by: str = "") -> dict[str, str]:
    suffix = " {{" + by + "}}" if by else ""
    return {f"p{int(float(x) * 100)}{suffix}": p99(metric, by, quantile=x) for x in ("0.5", "0.95", "0.99")}


# --------------------------------------------------------------------------- the dashboards

WORKFLOW_RATE = Panel(
    "Workflows started / closed per second",
    {
        "started": "sum(rate(tidal_workflow_started_total[1m]))",
        "closed {{status}}": "sum by (status) (rate(tidal_workflow_closed_total[1m]))",
    },
    unit="ops",
)
WORKFLOW_LATENCY = Panel(
    "Workflow duration (start to close)", quantiles("tidal_workflow_duration_seconds"), unit="s"
)
FAILURE_RATIO = Panel(
    "Failed or timed-out share of closed workflows",
    q(
        '(sum(rate(tidal_workflow_closed_total{status=~"failed|timed_out"}[5m])) or vector(0)) '
        "/ clamp_min(sum(rate(tidal_workflow_closed_total[5m])), 1e-9)",
        "failure ratio",
    ),
    unit="percentunit",
)
# max, not sum: every matching process samples the same RabbitMQ queues.
BACKLOG = Panel(
    "Backlog per task queue",
    q("max by (namespace, task_queue, kind) (tidal_matching_task_queue_backlog)", "{{task_queue}} {{kind}}"),
)
SCHEDULE_TO_START = Panel(
    "Task schedule-to-start p99 per task queue",
    q(p99("tidal_worker_task_schedule_to_start_seconds", "task_queue, kind"), "{{task_queue}} {{kind}}"),
    unit="s",
)
HTTP_RATE = Panel(
    "HTTP requests per second by route and code",
    q("sum by (route, code) (rate(tidal_frontend_requests_total[1m]))", "{{route}} {{code}}"),
    unit="reqps",
)
DEAD_LETTERS = Panel(
    "Dead-lettered messages per second",
    q("sum by (queue_kind) (rate(tidal_dead_lettered_messages_total[5m]))", "{{queue_kind}}"),
    unit="ops",
)
SHARDS = Panel(
    "Shard ownership (owned vs configured)",
    {
        "history owned": "sum(tidal_history_shards_owned)",
        "history shards": "max(tidal_history_shards_configured)",
        "timer owned": "sum(tidal_timer_shards_owned)",
        "timer shards": "max(tidal_timer_shards_configured)",
    },
)

SCHEDULE_ACTIONS = Panel(
    "Schedule actions per minute by outcome",
    q("sum by (outcome) (rate(tidal_schedule_actions_total[5m])) * 60", "{{outcome}}"),
    description="taken, skipped (overlap), missed (catch-up window), buffered; completed and failed "
    "runs the schedules started (docs/schedules.md)",
)
SCHEDULE_FAILURES = Panel(
    "Scheduled runs failing per namespace (per hour)",
    q('sum by (namespace) (increase(tidal_schedule_actions_total{outcome="failed"}[1h]))', "{{namespace}}"),
)

OVERVIEW = Dashboard(
    "tidal-overview",
    "Tidal / Overview",
    "Throughput, latency, failures and backlog of the whole engine.",
    [
        ("Workflows", [WORKFLOW_RATE, WORKFLOW_LATENCY, FAILURE_RATIO]),
        ("Queues", [BACKLOG, SCHEDULE_TO_START, DEAD_LETTERS]),
        (
            "Services",
            [
                HTTP_RATE,
                Panel(
                    "History batch latency",
                    quantiles("tidal_history_batch_duration_seconds"),
                    unit="s",
                ),
                SHARDS,
            ],
        ),
        ("Schedules", [SCHEDULE_ACTIONS, SCHEDULE_FAILURES]),
    ],
)

FRONTEND = Dashboard(
    "tidal-frontend",
    "Tidal / Frontend",
    "The HTTP edge: request rates, latencies and errors per route.",
    [
        (
            "Requests",
            [
                HTTP_RATE,
                Panel(
                    "Request latency p99 by route",
                    q(p99("tidal_frontend_request_duration_seconds", "route"), "{{route}}"),
                    unit="s",
                ),
                Panel(
                    "Server errors (5xx) per second",
                    q('sum by (route) (rate(tidal_frontend_requests_total{code=~"5.."}[5m]))', "{{route}}"),
                    unit="reqps",
                ),
            ],
        ),
        (
            "Latency",
            [
                Panel(
                    "Request latency (all routes)",
                    quantiles("tidal_frontend_request_duration_seconds"),
                    unit="s",
                ),
                Panel(
                    "Client errors (4xx) per second",
                    q('sum by (code) (rate(tidal_frontend_requests_total{code=~"4.."}[5m]))', "{{code}}"),
                    unit="reqps",
                ),
            ],
        ),
    ],
)

HISTORY = Dashboard(
    "tidal-history",
    "Tidal / History",
    "Shard processing: messages, batches, commits, the outbox and shard ownership.",
    [
        (
            "Messages",
            [
                Panel(
                    "Messages applied per second by type",
                    q("sum by (type) (rate(tidal_history_messages_total[1m]))", "{{type}}"),
                    unit="ops",
                ),
                Panel(
                    "State transitions per second by event type",
                    q(
                        "sum by (event_type) (rate(tidal_history_state_transitions_total[1m]))",
                        "{{event_type}}",
                    ),
                    unit="ops",
                ),
                Panel(
                    "Messages per batch (mean)",
                    q(
                        "sum(rate(tidal_history_batch_messages_sum[1m])) "
                        "/ clamp_min(sum(rate(tidal_history_batch_messages_count[1m])), 1e-9)",
                        "messages / batch",
                    ),
                ),
                Panel(
                    "Fused completions per second by result",
                    q("sum by (result) (rate(tidal_history_fused_completions_total[1m]))", "{{result}}"),
                    unit="ops",
                    description="activity results carrying the next workflow task's completion: "
                    "accepted (one transaction), refused (the result alone; the worker replays), "
                    "stale (neither applied); counted once per committed batch",
                ),
            ],
        ),
        (
            "Latency",
            [
                Panel("Batch duration", quantiles("tidal_history_batch_duration_seconds"), unit="s"),
                Panel(
                    "Persistence latency p99 by operation",
                    q(
                        p99(
                            "tidal_persistence_duration_seconds", "operation", selector='{service="history"}'
                        ),
                        "{{operation}}",
                    ),
                    unit="s",
                ),
                Panel(
                    "Outbox lag (commit to publish confirm)",
                    quantiles("tidal_history_outbox_lag_seconds"),
                    unit="s",
                ),
            ],
        ),
        (
            "Health",
            [
                SHARDS,
                Panel(
                    "Failed batches, lost shards, relayed outbox messages per second",
                    {
                        "failed batches": "sum(rate(tidal_history_batch_failures_total[5m]))",
                        "lost shards": "sum(rate(tidal_history_shard_losses_total[5m]))",
                        "relayed": 'sum(rate(tidal_history_outbox_published_total{path="relay"}[5m]))',
                    },
                    unit="ops",
                ),
                Panel(
                    "Workflows closed per second by type and status",
                    q(
                        "sum by (workflow_type, status) (rate(tidal_workflow_closed_total[1m]))",
                        "{{workflow_type}} {{status}}",
                    ),
                    unit="ops",
                ),
            ],
        ),
    ],
)

MATCHING = Dashboard(
    "tidal-matching",
    "Tidal / Matching",
    "Task dispatch to worker queues, sticky routing and backlog.",
    [
        (
            "Dispatch",
            [
                Panel(
                    "Tasks dispatched per second",
                    q(
                        "sum by (kind, target) (rate(tidal_matching_tasks_dispatched_total[1m]))",
                        "{{kind}} {{target}}",
                    ),
                    unit="ops",
                ),
                Panel(
                    "Dispatch latency p99 by kind",
                    q(p99("tidal_matching_dispatch_duration_seconds", "kind"), "{{kind}}"),
                    unit="s",
                ),
                Panel(
                    # Sticky workflow tasks and eager activities go from history straight to the
                    # worker's queue; matching only sees the fallbacks (and queries).
                    "Straight to the worker (sticky tasks, eager activities): hit ratio",
                    q(
                        'sum by (kind) (rate(tidal_history_worker_dispatch_total{result="direct"}[5m])) '
                        "/ clamp_min(sum by (kind) (rate(tidal_history_worker_dispatch_total[5m])), 1e-9)",
                        "{{kind}}",
                    ),
                    unit="percentunit",
                ),
            ],
        ),
        ("Backlog", [BACKLOG, SCHEDULE_TO_START]),
    ],
)

TIMER = Dashboard(
    "tidal-timer",
    "Tidal / Timer",
    "Durable timers: fires, lateness, memory and shard ownership.",
    [
        (
            "Timers",
            [
                Panel(
                    "Timers fired per second by kind",
                    q("sum by (kind) (rate(tidal_timer_fired_total[1m]))", "{{kind}}"),
                    unit="ops",
                ),
                Panel(
                    "Timer lateness p99 by kind",
                    q(p99("tidal_timer_lateness_seconds", "kind"), "{{kind}}"),
                    unit="s",
                ),
                Panel("Timers in memory", q("sum(tidal_timer_heap_timers)", "timers")),
                Panel(
                    "Fires sent before the stale check answered, per second by kind",
                    q("sum by (kind) (rate(tidal_timer_fired_unchecked_total[5m]))", "{{kind}}"),
                    unit="ops",
                ),
                Panel(
                    "Overdue rows fired by the sweep per second (committed behind the read horizon)",
                    q("sum(rate(tidal_timer_swept_total[5m]))", "swept"),
                    unit="ops",
                ),
            ],
        ),
        (
            "Health",
            [
                SHARDS,
                Panel(
                    "Publish failures and messages received per second",
                    {
                        "publish failures": "sum(rate(tidal_timer_publish_failures_total[5m]))",
                        "received": "sum(rate(tidal_timer_messages_total[1m]))",
                    },
                    unit="ops",
                ),
            ],
        ),
    ],
)

WORKERS = Dashboard(
    "tidal-workers",
    "Tidal / Workers (SDK)",
    "What the SDK workers report: workflow tasks, activities, schedule-to-start, sticky cache.",
    [
        (
            "Workflow tasks",
            [
                Panel(
                    "Workflow tasks per second by outcome",
                    q(
                        "sum by (task_queue, outcome) (rate(tidal_worker_workflow_tasks_total[1m]))",
                        "{{task_queue}} {{outcome}}",
                    ),
                    unit="ops",
                ),
                Panel(
                    "Workflow task latency",
                    quantiles("tidal_worker_workflow_task_duration_seconds"),
                    unit="s",
                ),
                Panel(
                    "Sticky cache hit ratio",
                    q(
                        'sum by (task_queue) (rate(tidal_worker_sticky_cache_total{result="hit"}[5m])) '
                        "/ clamp_min(sum by (task_queue) (rate(tidal_worker_sticky_cache_total[5m])), 1e-9)",
                        "{{task_queue}}",
                    ),
                    unit="percentunit",
                ),
            ],
        ),
        (
            "Activities",
            [
                Panel(
                    "Activity attempts per second by type and outcome",
                    q(
                        "sum by (activity_type, outcome) (rate(tidal_worker_activity_tasks_total[1m]))",
                        "{{activity_type}} {{outcome}}",
                    ),
                    unit="ops",
                ),
                Panel(
                    "Activity execution p99 by type",
                    q(p99("tidal_worker_activity_execution_seconds", "activity_type"), "{{activity_type}}"),
                    unit="s",
                ),
                SCHEDULE_TO_START,
            ],
        ),
        (
            "Fused completions",
            [
                Panel(
                    "Eager results sent fused, or why alone, per second",
                    q(
                        "sum by (task_queue, result) (rate(tidal_worker_fused_completions_total[5m]))",
                        "{{task_queue}} {{result}}",
                    ),
                    unit="ops",
                    description="sent: the result carried the next workflow task run by the worker; "
                    "skipped_<reason>: the result went alone (docs/performance.md, the fused completion)",
                ),
                Panel(
                    "Fused completion verdicts per second",
                    q(
                        "sum by (task_queue, verdict) (rate(tidal_worker_fused_verdicts_total[5m]))",
                        "{{task_queue}} {{verdict}}",
                    ),
                    unit="ops",
                    description="as the worker learnt them: accepted, or refused (the run replays "
                    "from history, a history read each: keep it rare)",
                ),
            ],
        ),
        (
            "Cache",
            [
                Panel(
                    "Cached workflow runs",
                    q("sum by (task_queue) (tidal_worker_cached_workflows)", "{{task_queue}}"),
                )
            ],
        ),
    ],
)

# Metrics of RabbitMQ's rabbitmq_prometheus plugin (aggregated mode, its default) and Tidal's
# own persistence figures for Postgres (postgres_exporter is not assumed).
INFRA = Dashboard(
    "tidal-infrastructure",
    "Tidal / RabbitMQ and Postgres",
    "RabbitMQ from the rabbitmq_prometheus plugin (port 15692); Postgres as Tidal sees it "
    "(transaction and query latency measured by history).",
    [
        (
            "RabbitMQ",
            [
                Panel(
                    "Messages ready / unacked",
                    {
                        "ready": "sum(rabbitmq_queue_messages_ready)",
                        "unacked": "sum(rabbitmq_queue_messages_unacked)",
                    },
                ),
                Panel(
                    "Published / delivered / confirmed per second",
                    {
                        "published": "sum(rate(rabbitmq_channel_messages_published_total[1m]))",
                        "delivered": "sum(rate(rabbitmq_channel_messages_delivered_ack_total[1m]))",
                        "confirmed": "sum(rate(rabbitmq_channel_messages_confirmed_total[1m]))",
                        "redelivered": "sum(rate(rabbitmq_channel_messages_redelivered_total[1m]))",
                    },
                    unit="ops",
                ),
                Panel(
                    "Connections, channels, queues, consumers",
                    {
                        "connections": "sum(rabbitmq_connections)",
                        "channels": "sum(rabbitmq_channels)",
                        "queues": "sum(rabbitmq_queues)",
                        "consumers": "sum(rabbitmq_consumers)",
                    },
                ),
            ],
        ),
        (
            "RabbitMQ resources",
            [
                Panel(
                    "Memory used vs limit",
                    {
                        "resident": "sum(rabbitmq_process_resident_memory_bytes)",
                        "limit": "sum(rabbitmq_resident_memory_limit_bytes)",
                    },
                    unit="bytes",
                ),
                Panel(
                    "Free disk vs limit",
                    {
                        "available": "sum(rabbitmq_disk_space_available_bytes)",
                        "limit": "sum(rabbitmq_disk_space_available_limit_bytes)",
                    },
                    unit="bytes",
                ),
                Panel(
                    "Tidal bus: published / consumed per second",
                    {
                        "published {{exchange}}": (
                            "sum by (exchange) (rate(tidal_bus_messages_published_total[1m]))"
                        ),
                        "consumed {{queue_kind}}": (
                            "sum by (queue_kind) (rate(tidal_bus_messages_consumed_total[1m]))"
                        ),
                    },
                    unit="ops",
                ),
            ],
        ),
        (
            "Postgres (as history sees it)",
            [
                Panel(
                    "Transaction / query latency p99",
                    q(
                        "histogram_quantile(0.99, sum by (le, operation) "
                        "(rate(tidal_persistence_duration_seconds_bucket[1m])))",
                        "{{operation}}",
                    ),
                    unit="s",
                ),
                Panel(
                    "Commits per second",
                    q(
                        'sum(rate(tidal_persistence_duration_seconds_count{operation="commit"}[1m]))',
                        "commits",
                    ),
                    unit="ops",
                ),
                Panel(
                    "Bus handler latency p99 by queue kind",
                    q(p99("tidal_bus_handler_duration_seconds", "queue_kind"), "{{queue_kind}}"),
                    unit="s",
                ),
            ],
        ),
    ],
)

DASHBOARDS = (OVERVIEW, FRONTEND, HISTORY, MATCHING, TIMER, WORKERS, INFRA)


def render(d: Dashboard) -> dict[str, object]:
    panels: list[dict[str, object]] = []
    next_id = 1
    y = 0
    for row_title, row in d.rows:
        panels.append(
            {
                "type": "row",
                "title": row_title,
                "id": next_id,
                "collapsed": False,
                "gridPos": _pos(0, y, 24, 1),
            }
        )
        next_id += 1
        y += 1
        width = 24 // len(row)
        for i, p in enumerate(row):
            panels.append(
                {
                    "id": next_id,
                    "type": p.kind,
                    "title": p.title,
                    "description": p.description,
                    "datasource": DATASOURCE,
                    "gridPos": _pos(i * width, y, width, 8),
                    "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                    "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                    "targets": [
                        {
                            "refId": chr(ord("A") + j),
                            "datasource": DATASOURCE,
                            "expr": expr,
                            "legendFormat": legend,
                        }
                        for j, (legend, expr) in enumerate(p.exprs.items())
                    ],
                }
            )
            next_id += 1
        y += 8
    return {
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": ["tidal"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def _pos(x: int, y: int, w: int, h: int) -> dict[str, int]:
    return {"x": x, "y": y, "w": w, "h": h}


def main() -> None:
    for d in DASHBOARDS:
        path = HERE / f"{d.uid.removeprefix('tidal-')}.json"
        path.write_text(json.dumps(render(d), indent=2) + "\n")
        print(path)


if __name__ == "__main__":
    main()
