"""Run a query handler on a worker. Reached by `POST .../workflows/{id}/query`.

Queries never touch history (nothing is written, the history service is not involved): the
frontend reads the run's history, sends it with the query through matching to a worker of the
run's task queue (sticky first, so the worker that has the run cached answers without replaying)
and waits for the worker's answer on its direct reply-to address. Closed runs are queried the
same way (the worker replays their history).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from tidal_schema import HistoryEvent, Payload, WorkflowExecutionStatus, limits, names, sizes
from tidal_schema.limits import Name, OptionalId
from tidal_schema.messages import QUERY_REPLY, AddQueryTask, QueryWorkflowReply, QueryWorkflowTask
from tidal_server.apikeys import Role
from tidal_server.bus import BusError, OutMessage, RequestTimeout, UnroutableError

from ..context import FrontendContext
from ..problems import Problem
from ..store import ExecutionRow
from .models import WithInput, not_found
from .policy import Admitted, Policy

_PAGE = 1000


__all__ = ["POLICY", "QueryWorkflowRequest", "QueryWorkflowResponse", "query_workflow", "rejects"]

POLICY = Policy(role=Role.READER)


class QueryWorkflowRequest(WithInput):
    query_name: Name
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="seconds to wait for a worker's answer (default: the frontend's "
        "request_timeout_seconds; capped at long_poll_max_seconds)",
    )
    reject_condition: Literal["None", "NotOpen", "NotCompletedCleanly"] | None = Field(
        default=None,
        description="Temporal's query reject condition: NotOpen refuses a closed run, "
        "NotCompletedCleanly one that closed other than Completed (412 query_rejected, with "
        "the run's workflow_status), without asking a worker",
    )
    header: dict[Name, Payload] = Field(
        default_factory=dict, description="Temporal's query header (client interceptors), given to the worker"
    )


class QueryWorkflowResponse(BaseModel):
    workflow_id: str
    run_id: str
    result: Payload


async def query_workflow(
    ctx: FrontendContext, admitted: Admitted, workflow_id: str, body: QueryWorkflowRequest
) -> QueryWorkflowResponse:
    namespace = admitted.namespace_for(POLICY)
    row = await ctx.store.execution(namespace, workflow_id, body.run_id or None)
    if row is None:
        raise not_found(namespace, workflow_id, body.run_id)
    if rejects(body.reject_condition, row.status):
        raise Problem(
            "query_rejected",
            f"query refused by reject_condition {body.reject_condition}: the run is {row.status.value}",
            workflow_status=row.status.value,
        )
    timeout = body.timeout or ctx.settings.request_timeout_seconds
    timeout = min(timeout, max(ctx.settings.long_poll_max_seconds, 1.0))
    task = QueryWorkflowTask(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        query_id=uuid.uuid4().hex,
        query_type=body.query_name,
        query_args=body.payloads(),
        header=body.header,
        **_newest(await _history(ctx, row), ctx.settings.max_message_bytes),
        deadline=datetime.now(UTC) + timedelta(seconds=timeout),
    )
    doc = row.document() if row.running else None
    sticky = doc.sticky_queue if doc is not None else None
    reply = await _ask_worker(ctx, AddQueryTask(sticky_queue=sticky or None, task=task), timeout)
    if reply.error is not None:
        extra = {"query_error": reply.error.value, "known_queries": list(reply.known_queries)}
        raise Problem("query_failed", reply.message or f"query {body.query_name!r} failed", **extra)
    assert reply.result is not None
    return QueryWorkflowResponse(workflow_id=workflow_id, run_id=row.run_id, result=reply.result)


def rejects(condition: str | None, status: WorkflowExecutionStatus) -> bool:
    """Temporal's rule: a running run is always queried; NotOpen refuses every closed run,
    NotCompletedCleanly every closed run that did not complete."""
    if status is WorkflowExecutionStatus.RUNNING:
        return False
    if condition == "NotOpen":
        return True
    return condition == "NotCompletedCleanly" and status is not WorkflowExecutionStatus.COMPLETED


async def _history(ctx: FrontendContext, row: ExecutionRow) -> tuple[HistoryEvent, ...]:
    events: list[HistoryEvent] = []
    while True:
        page = await ctx.store.events(
            row.namespace, row.workflow_id, row.run_id, after_event_id=len(events), limit=_PAGE
        )
        events.extend(HistoryEvent.model_validate(e) for e in page)
        if len(page) < _PAGE:
            return tuple(events)


def _newest(events: tuple[HistoryEvent, ...], max_message_bytes: int) -> dict[str, Any]:
    """A long history does not fit one bus message: the task carries the newest events and the
    worker pages the rest (docs/configuration.md#limits)."""
    first = sizes.newest_events(
        events,
        max_events=limits.TASK_HISTORY_MAX_EVENTS,
        max_bytes=sizes.task_history_budget(max_message_bytes),
    )
    return {"events": events[first:], "first_event_id": events[first].event_id if first else 1}


async def _ask_worker(ctx: FrontendContext, message: AddQueryTask, timeout: float) -> QueryWorkflowReply:
    task = message.task
    out = OutMessage(
        exchange=names.MATCHING_EXCHANGE,
        routing_key=names.MATCHING_ROUTING_KEY,
        body=message.model_dump_json().encode(),
        correlation_id=task.query_id,
    )
    try:
        delivery = await ctx.bus.request(out, timeout=timeout)
    except RequestTimeout:
        raise Problem(
            "deadline_exceeded",
            f"no worker answered the query within {timeout:g}s: is a worker polling task queue "
            f"{task.task_queue!r} with workflow type {task.workflow_type!r} registered?",
            task_queue=task.task_queue,
        ) from None
    except UnroutableError:
        raise Problem("unavailable", "matching is not available yet; retry later") from None
    except BusError as exc:
        raise Problem("unavailable", f"the message bus failed ({type(exc).__name__}); retry") from None
    try:
        return QUERY_REPLY.validate_json(delivery.body)
    except ValidationError:
        raise Problem("internal", "the worker sent a query answer the frontend does not understand") from None
