"""The timer service's metrics (listed in docs/observability.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FIRED = Counter("tidal_timer_fired_total", "Timer fires published to history, by timer kind.", ["kind"])
LATENESS = Histogram(
    "tidal_timer_lateness_seconds",
    "From a timer's due time to the broker's confirm of its fire, by timer kind.",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STALE = Counter(
    "tidal_timer_stale_dropped_total",
    "Due timers not fired because history had already deleted their row (the work they were set "
    "for was done: a task completed, an activity reported, a timer cancelled, the run closed), by "
    "timer kind.",
    ["kind"],
)
UNCHECKED = Counter(
    "tidal_timer_fired_unchecked_total",
    "Timer fires published before the look-ahead found out whether their row was still there "
    "(the timer arrived within the look-ahead, or the lookup was slow or failed): fired anyway, "
    "history discards a stale one; by timer kind.",
    ["kind"],
)
RECEIVED = Counter("tidal_timer_messages_total", "Timer messages received (ScheduleTimer, CancelTimer).")
PUBLISH_FAILURES = Counter(
    "tidal_timer_publish_failures_total", "Batches of timer fires whose publish failed (retried)."
)
SWEPT = Counter(
    "tidal_timer_swept_total",
    "Overdue timers the sweep found in the table that neither a read of the table nor a message "
    "had brought in (a commit later than history's margin, or clocks further apart): fired late.",
)
HEAP_SIZE = Gauge("tidal_timer_heap_timers", "Timers held in memory (due within the load window, 2 s).")
SHARDS_OWNED = Gauge("tidal_timer_shards_owned", "Timer shards this process owns.")
SHARD_COUNT = Gauge("tidal_timer_shards_configured", "Shards in the cluster (TIDAL_SHARD_COUNT).")
