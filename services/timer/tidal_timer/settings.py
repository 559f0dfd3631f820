from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings
from tidal_server.timer_horizon import LOAD_AHEAD, LOAD_INTERVAL


# tidal_server ships no py.typed yet, so outside MYPYPATH=libs/server it is Any to mypy.
class TimerSettings(CommonSettings):  # type: ignore[misc,unused-ignore]
    prefetch: int = Field(default=1024, ge=1)
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    member_ttl_seconds: float = Field(default=5.0, gt=0)
    # How far ahead each read of the table reaches, and how often the next slice is read. History
    # sends no ScheduleTimer for a timer due beyond tidal_server.timer_horizon.MESSAGE_HORIZON, so
    # the window may not exceed LOAD_AHEAD (a wider one would pass rows committed after its read
    # without a message to bring them in), and a read at least every window keeps the heap ahead.
    load_window_seconds: float = Field(
        default=LOAD_AHEAD.total_seconds(), gt=0, le=LOAD_AHEAD.total_seconds()
    )
    load_interval_seconds: float = Field(
        default=LOAD_INTERVAL.total_seconds(), gt=0, le=LOAD_AHEAD.total_seconds()
    )
    # The sweep: every interval, rows overdue by more than the grace that this process neither
    # holds nor fired (committed later than history's margin allowed for: a slow commit, clocks
    # further apart than SKEW_MARGIN) are fired late rather than left unfired.
    sweep_interval_seconds: float = Field(default=10.0, gt=0)
    sweep_grace_seconds: float = Field(default=10.0, ge=0)
    # Rows per load query: bounds memory when a shard has a huge overdue backlog (after an outage).
    load_batch_max: int = Field(default=10_000, ge=1)
    publish_batch_max: int = Field(default=512, ge=1)
    # Look up, ahead of their due time, which timers still have their row and drop the others
    # (stale: what they were set for is done), instead of sending history a fire to discard.
    drop_stale_fires: bool = True
    # How long before its due time a timer is looked up. A fire never waits for the answer, so a
    # lookup slower than this only means that timer fires unchecked (history discards it if stale).
    stale_lookahead_seconds: float = Field(default=1.0, gt=0)
    # Batches of fires whose confirm is awaited at once; the firing loop waits only beyond this.
    publish_in_flight_max: int = Field(default=8, ge=1)
    # How long before its due time a fire is sent: history holds it until the due time (never
    # applies it before), so the wake-up, the publish, the broker and history's reader are behind
    # it by then. Below the heap's look-ahead after a read (LOAD_AHEAD - LOAD_INTERVAL, 1 s); 0
    # sends fires at their due time.
    fire_lead_seconds: float = Field(default=0.25, ge=0, le=0.5)
    publish_backoff_initial_seconds: float = Field(default=0.1, gt=0)
    publish_backoff_max_seconds: float = Field(default=5.0, gt=0)
