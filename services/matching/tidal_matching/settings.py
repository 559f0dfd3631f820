from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class MatchingSettings(CommonSettings):
    prefetch: int = Field(default=1024, ge=1)
    backlog_poll_seconds: float = Field(default=5.0, gt=0)
    """How often the task queues' backlog gauge is refreshed (a passive declare per queue)."""
    task_queue_rate_ttl_seconds: float = Field(default=60.0, gt=0)
    """A task queue's declared activity rate lapses when no worker declared it again for this
    long (workers declare every 10 s while they run)."""
    max_rate_limited_task_queues: int = Field(default=10_000, ge=1)
    """Task queues one matching process limits at most; a declaration for one more is dead-lettered."""
