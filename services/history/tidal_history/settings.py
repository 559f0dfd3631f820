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
