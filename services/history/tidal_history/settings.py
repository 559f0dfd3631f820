from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class HistorySettings(CommonSettings):
    batch_max: int = Field(default=256, ge=1)
    prefetch: int = Field(default=512, ge=1)
    # The run cache (cache.py), one per process and shared by its shards: a budget of estimated
    # memory, and a backstop on the number of runs.
    cache_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    cache_size: int = Field(default=100_000, ge=1)
    heartbeat_seconds: float = 1.0
    member_ttl_seconds: float = 5.0
    poison_max_attempts: int = Field(default=3, ge=1)
    """Attempts of a message that fails on its own before it is dead-lettered (or, for a workflow
    task completion, the task failed); see tidal_history.poison."""
    poison_backoff_seconds: float = Field(default=0.5, gt=0)
    poison_backoff_max_seconds: float = Field(default=10.0, gt=0)
