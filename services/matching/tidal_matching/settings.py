from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class MatchingSettings(CommonSettings):
    prefetch: int = Field(default=1024, ge=1)
    backlog_poll_seconds: float = Field(default=5.0, gt=0)
    """How often the task queues' backlog gauge is refreshed (a passive declare per queue)."""
