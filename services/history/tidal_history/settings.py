from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class HistorySettings(CommonSettings):
    batch_max: int = Field(default=256, ge=1)
    prefetch: int = Field(default=512, ge=1)
    cache_size: int = Field(default=20_000, ge=1)
    heartbeat_seconds: float = 1.0
    member_ttl_seconds: float = 5.0
