"""Worker-facing queue declarations, shared in shape with the SDK's worker (both declare them;
RabbitMQ refuses a redeclaration with other arguments, so the spec lives in one place here and
the SDK mirrors it)."""

from __future__ import annotations

from tidal_schema import names
from tidal_server.bus import QueueSpec


def task_queue_spec(name: str) -> QueueSpec:
    # Durable: tasks outlive worker restarts; unacked tasks of a dead worker are redelivered.
    # A priority queue: the backlog goes out by the tasks' priority keys (names.task_priority).
    return QueueSpec(name=name, durable=True, max_priority=names.TASK_QUEUE_MAX_PRIORITY)


def held_queue_spec(name: str) -> QueueSpec:
    # Durable: held tasks survive a matching crash (they are acked upstream once held here).
    # Priority: the backlog leaves by priority key, as from the worker queue. Single active
    # consumer: one matching process at a time releases a task queue, so its rate is the
    # cluster's, and the broker hands the queue to another process when that one goes away.
    return QueueSpec(
        name=name, durable=True, max_priority=names.TASK_QUEUE_MAX_PRIORITY, single_active_consumer=True
    )
