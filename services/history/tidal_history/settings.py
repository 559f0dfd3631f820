from __future__ import annotations

from pydantic import Field
from tidal_schema import limits
from tidal_server.settings import CommonSettings

from .limits import HistoryLimits


class HistorySettings(CommonSettings):
    batch_max: int = Field(default=256, ge=1)
    prefetch: int = Field(default=512, ge=1)
    publish_overlap: bool = False
    """TIDAL_PUBLISH_OVERLAP: publish and ack a committed batch in the background while the shard
    takes its next message, when no other message waits (after_commit.py). Off by default: on the
    saturated 2-core box it made batches smaller and cost more CPU per workflow than it saved in
    latency (docs/performance.md, "History's publish and acks off the batch loop")."""
    shared_queue_refresh_seconds: float = 10.0
    """TIDAL_SHARED_QUEUE_REFRESH_SECONDS: a workflow task without a worker's queue goes straight to
    its task queue's shared queue (direct.py), except one per task queue per this many seconds,
    which goes through matching so that matching keeps the queue declared and its backlog gauge
    current. 0: every such task goes through matching."""
    fire_hold_max_seconds: float = Field(default=5.0, gt=0)
    """TIDAL_FIRE_HOLD_MAX_SECONDS: the longest a timer fire that arrives before its due time is
    held (fire_hold.py). The timer service sends fires at most `fire_lead_seconds` early; the rest
    is for the two hosts' clocks disagreeing (tidal_server.timer_horizon.SKEW_MARGIN)."""
    # The run cache (cache.py), one per process and shared by its shards: a budget of estimated
    # memory, and a backstop on the number of runs.
    cache_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    cache_size: int = Field(default=100_000, ge=1)
    heartbeat_seconds: float = 1.0
    member_ttl_seconds: float = 5.0
    # Limits (docs/configuration.md#limits); Temporal's defaults.
    blob_size_limit: int = Field(default=limits.MAX_PAYLOAD_BYTES, ge=1024)
    history_count_limit_warn: int = Field(default=limits.HISTORY_COUNT_WARN, ge=1)
    history_count_limit_error: int = Field(default=limits.HISTORY_COUNT_ERROR, ge=1)
    history_size_limit_warn: int = Field(default=limits.HISTORY_SIZE_WARN, ge=1)
    history_size_limit_error: int = Field(default=limits.HISTORY_SIZE_ERROR, ge=1)
    # Past either, workflow tasks suggest continuing as new (Temporal's defaults).
    history_count_suggest_continue_as_new: int = Field(
        default=limits.HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW, ge=1
    )
    history_size_suggest_continue_as_new: int = Field(
        default=limits.HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW, ge=1
    )
    task_history_max_events: int = Field(default=limits.TASK_HISTORY_MAX_EVENTS, ge=1)
    task_history_max_bytes: int = Field(default=limits.TASK_HISTORY_MAX_BYTES, ge=1024)

    poison_max_attempts: int = Field(default=3, ge=1)
    """Attempts of a message that fails on its own before it is dead-lettered (or, for a workflow
    task completion, the task failed); see tidal_history.poison."""
    poison_backoff_seconds: float = Field(default=0.5, gt=0)
    poison_backoff_max_seconds: float = Field(default=10.0, gt=0)

    def limits(self) -> HistoryLimits:
        return HistoryLimits(
            blob_size=self.blob_size_limit,
            history_count_warn=self.history_count_limit_warn,
            history_count_error=self.history_count_limit_error,
            history_size_warn=self.history_size_limit_warn,
            history_size_error=self.history_size_limit_error,
            history_count_suggest_continue_as_new=self.history_count_suggest_continue_as_new,
            history_size_suggest_continue_as_new=self.history_size_suggest_continue_as_new,
            max_message_bytes=self.max_message_bytes,
            task_history_max_events=self.task_history_max_events,
            task_history_max_bytes=self.task_history_max_bytes,
        )
