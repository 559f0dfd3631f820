"""Prometheus metrics shared by every service: the bus's message figures and persistence latency.

Conventions (docs/observability.md lists every metric): names start with `tidal_`, carry their
unit (`_seconds`, `_total`), and labels have bounded values: queue *kinds* and operation names,
never a queue, workflow or run id. Service-specific metrics live in each service's own
`metrics.py`. Everything registers on prometheus_client's default registry, which the ops server
(`ops_http`) and the frontend's `/metrics` expose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

# Latencies of in-process work and round trips: 0.5 ms .. 30 s.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

BUS_CONSUMED = Counter(
    "tidal_bus_messages_consumed_total",
    "Messages delivered to a handler, by kind of queue.",
    ["queue_kind"],
)
BUS_HANDLER_SECONDS = Histogram(
    "tidal_bus_handler_duration_seconds",
    "Time a consumer's handler took per delivery, by kind of queue.",
    ["queue_kind"],
    buckets=LATENCY_BUCKETS,
)
BUS_PUBLISHED = Counter(
    "tidal_bus_messages_published_total",
    "Messages published, by exchange kind (default = worker queues and replies).",
    ["exchange"],
)
DEAD_LETTERED = Counter(
    "tidal_dead_lettered_messages_total",
    "Messages a consumer parked in the dead-letter queue, by kind of queue they came from.",
    ["queue_kind"],
)
PERSISTENCE_SECONDS = Histogram(
    "tidal_persistence_duration_seconds",
    "Database operations, by service and operation (commit = one batch transaction).",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
)


def queue_kind(queue: str) -> str:
    """The bounded label for a queue name (see tidal_schema.names)."""
    parts = queue.split(".")
    if parts[0] != "tidal" or len(parts) < 2:
        return "reply" if queue.startswith("amq.") else "other"
    head = parts[1]
    if head in ("history", "timer", "matching", "sticky"):
        return head
    if head == "tq":
        return f"{parts[-1]}_task"  # workflow_task / activity_task
    if head == "frontend":
        return "commands" if parts[-1] == "commands" else "notify"
    if head == "dead-letter":
        return "dead_letter"
    return "other"


_EXCHANGES = {
    "": "default",
    "tidal.history": "history",
    "tidal.matching": "matching",
    "tidal.timer": "timer",
    "tidal.notify": "notify",
    "tidal.dlx": "dead_letter",
}


def exchange_label(exchange: str) -> str:
    return _EXCHANGES.get(exchange, "other")


class BusMetrics:
    """Labelled children cached per queue / exchange name: `labels()` costs a lock and a dict
    lookup per call, and the bus calls these for every message."""

    def __init__(self) -> None:
        self._consume: dict[str, tuple[Counter, Histogram]] = {}
        self._publish: dict[str, Counter] = {}

    def consumed(self, queue: str) -> tuple[Counter, Histogram]:
        pair = self._consume.get(queue)
        if pair is None:
            kind = queue_kind(queue)
            pair = (BUS_CONSUMED.labels(kind), BUS_HANDLER_SECONDS.labels(kind))
            self._consume[queue] = pair
        return pair

    def published(self, exchange: str, count: int = 1) -> None:
        child = self._publish.get(exchange)
        if child is None:
            child = self._publish[exchange] = BUS_PUBLISHED.labels(exchange_label(exchange))
        child.inc(count)


BUS_METRICS = BusMetrics()


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - start)


LOOP_CRASHES = Counter(
    "tidal_loop_crashes_total",
    "Long-running loops (shard processors, timer loops, consumers' pollers...) that ended with an "
    "unexpected exception, by service and loop kind.",
    ["service", "loop"],
)
LOOP_RESTARTS = Counter(
    "tidal_loop_restarts_total",
    "Supervised loops restarted after a crash (or, for a shard, the shard released to be "
    "re-acquired), by service and loop kind.",
    ["service", "loop"],
)
LOOPS_DOWN = Gauge(
    "tidal_loops_down",
    "Supervised loops of this process that are down right now (crashed, not yet restarted); "
    "/readyz answers 503 while it is above 0.",
    ["service"],
)
