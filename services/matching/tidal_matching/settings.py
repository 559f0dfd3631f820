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
    young_queue_seconds: float = Field(default=5.0, ge=0)
    """Workflow tasks published into a worker queue within this long of its first declaration
    by this process are kept, and published again after a broker reconnect: a RabbitMQ node
    killed within ~2 s of a queue's declaration can lose the queue (docs/reliability.md). 0: off."""
    young_queue_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    """Bodies kept for that at most, over all young queues (a burst beyond it is not kept)."""
