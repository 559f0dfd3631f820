"""Older events of a workflow task that carries only part of its run's history.

History sends a sticky worker only the events it has not seen, and any task at most a budget of
history (docs/architecture.md#large-histories): `first_event_id > 1`. A worker without the run
cached at that point reads events 1 .. first_event_id - 1 from the frontend's paged history
endpoint (the same call `WorkflowHandle.fetch_history` makes; the embedded mode answers it
in-process), then replays the whole run."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING

import httpx
from tidal_schema import HistoryEvent
from tidal_schema.messages import QueryWorkflowTask, WorkflowTask

from . import _telemetry as tm
from ._runtime.query import last_completed_task
from .exceptions import TidalError

if TYPE_CHECKING:
    from ._runtime import WorkflowInstance
    from .client import Client

__all__ = [
    "HistoryFetchError",
    "fetch_older_events",
    "needs_older_events",
    "query_with_older_events",
    "with_older_events",
]

_PAGE = 1000  # the frontend's largest page


class HistoryFetchError(TidalError):
    """The older events could not be read (frontend unreachable, run gone, a gap)."""


def needs_older_events(task: WorkflowTask, cached_last_event_id: int | None) -> bool:
    """Whether the task's events alone cannot drive the run: it starts after event 1 and the
    cached instance (if any) has not seen everything before it."""
    if task.first_event_id == 1:
        return False
    return cached_last_event_id is None or not (
        task.first_event_id - 1 <= cached_last_event_id <= task.scheduled_event_id
    )


async def fetch_older_events(
    client: Client, task: WorkflowTask | QueryWorkflowTask
) -> tuple[HistoryEvent, ...]:
    """Events 1 .. task.first_event_id - 1 of the task's run, as stored (payloads still encoded)."""
    last = task.first_event_id - 1
    ns = httpx.URL(path=task.namespace).raw_path.decode()
    wid = httpx.URL(path=task.workflow_id).raw_path.decode()
    path = f"/api/v1/namespaces/{ns}/workflows/{wid}/history"
    events: list[HistoryEvent] = []
    token: str | None = None
    try:
        while len(events) < last:
            params: dict[str, str | int] = {
                "run_id": task.run_id,
                "page_size": min(_PAGE, last - len(events)),
            }
            if token:
                params["next_page_token"] = token
            page = await client._call("GET", path, params=params)
            events.extend(HistoryEvent.model_validate(e) for e in page["events"] if e["event_id"] <= last)
            token = page.get("next_page_token")
            if not token:
                break
    except Exception as exc:
        raise HistoryFetchError(
            f"could not read the history of {task.workflow_id} ({task.run_id}): {exc}"
        ) from exc
    if [e.event_id for e in events] != list(range(1, last + 1)):
        raise HistoryFetchError(
            f"the history of {task.workflow_id} ({task.run_id}) has {len(events)} of the {last} "
            "events before this task"
        )
    return tuple(events)


async def with_older_events(
    client: Client, cache: MutableMapping[str, WorkflowInstance], task: WorkflowTask, task_queue: str
) -> WorkflowTask:
    """The task with the whole history when it carries only part of it and `cache` does not
    have the rest (a restarted worker, a sticky task that fell back to the shared queue, a long
    history); the cached instance is then dropped."""
    instance = cache.get(task.run_id)
    if not needs_older_events(task, instance.last_event_id if instance is not None else None):
        return task
    cache.pop(task.run_id, None)
    tm.HISTORY_FETCHES.labels(task_queue).inc()
    older = await fetch_older_events(client, task)
    return task.model_copy(update={"events": (*older, *task.events), "first_event_id": 1})


async def query_with_older_events(
    client: Client, cache: MutableMapping[str, WorkflowInstance], task: QueryWorkflowTask, task_queue: str
) -> QueryWorkflowTask:
    """A query of a long history carries only its newest events: unless the cached instance is
    at the run's last completed task (the query is then answered from it), read the older ones."""
    if task.first_event_id == 1:
        return task
    cached = cache.get(task.run_id)
    target = last_completed_task(task.events)
    if cached is not None and target and cached.activated_upto == target:
        return task
    tm.HISTORY_FETCHES.labels(task_queue).inc()
    older = await fetch_older_events(client, task)
    return task.model_copy(update={"events": (*older, *task.events), "first_event_id": 1})
