"""GET /api/v1/namespaces/{ns}/task-queues/{task_queue}: backlog and pollers of a task queue.

A task queue is two RabbitMQ queues (workflow tasks, activity tasks); the broker knows how many
messages wait in each and how many consumers (worker processes) take from it. Sticky queues are
per worker and not counted. A queue nobody has used yet reads as empty, as in Temporal. The
activity backlog also counts the tasks matching holds for the task queue's rate limit (its held
queue, docs/task-queue-rates.md): they wait for a worker as much as those in the worker queue.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field
from tidal_schema import names
from tidal_schema.limits import MAX_TASK_QUEUE_QUEUE_BYTES, STORE_SAFE_PATTERN, check_task_queue_name
from tidal_server.bus import BusError, NotFoundError, QueueStats

from ..context import Ctx
from ..problems import Problem
from .models import NamespacePath

__all__ = [
    "DescribeTaskQueueResponse",
    "TaskQueueKind",
    "TaskQueuePath",
    "describe_task_queue",
    "read_task_queue",
]

TaskQueuePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_TASK_QUEUE_QUEUE_BYTES,
        pattern=STORE_SAFE_PATTERN,
        description="task queue name",
    ),
    AfterValidator(check_task_queue_name),
]


class TaskQueueKind(BaseModel):
    backlog: int = Field(description="tasks waiting for a worker (not counting those being run)")
    pollers: int = Field(description="worker processes consuming this queue")


class DescribeTaskQueueResponse(BaseModel):
    namespace: str
    task_queue: str
    workflow: TaskQueueKind
    activity: TaskQueueKind


async def read_task_queue(ctx: Ctx, namespace: str, task_queue: str) -> DescribeTaskQueueResponse:
    """Backlog and pollers of one task queue, from the broker (two queue probes)."""
    kinds: dict[str, TaskQueueKind] = {}
    for kind, queue in (
        ("workflow", names.workflow_task_queue(namespace, task_queue)),
        ("activity", names.activity_task_queue(namespace, task_queue)),
    ):
        stats = await _stats(ctx, queue, task_queue)
        kinds[kind] = TaskQueueKind(backlog=stats.messages, pollers=stats.consumers)
    held = await _stats(ctx, names.rate_limited_activity_queue(namespace, task_queue), task_queue)
    if held.messages:
        activity = kinds["activity"]
        kinds["activity"] = TaskQueueKind(backlog=activity.backlog + held.messages, pollers=activity.pollers)
    return DescribeTaskQueueResponse(
        namespace=namespace, task_queue=task_queue, workflow=kinds["workflow"], activity=kinds["activity"]
    )


async def _stats(ctx: Ctx, queue: str, task_queue: str) -> QueueStats:
    try:
        return await ctx.bus.queue_stats(queue)
    except NotFoundError:
        return QueueStats(messages=0, consumers=0)
    except BusError as exc:
        raise Problem("unavailable", f"cannot read task queue {task_queue!r} from the broker: {exc}") from exc


async def describe_task_queue(
    ctx: Ctx, namespace: NamespacePath, task_queue: TaskQueuePath
) -> DescribeTaskQueueResponse:
    return await read_task_queue(ctx, namespace, task_queue)
