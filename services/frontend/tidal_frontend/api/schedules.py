"""The schedule routes under /api/v1/namespaces/{ns}/schedules: thin HTTP adapters of the
operations in `operations/*_schedule.py` (writes, admitted in a route dependency) and the reads
in `schedule_reads.py` (describe, list; readers may call them)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from tidal_schema.limits import MAX_ID_LENGTH, STORE_SAFE_PATTERN
from tidal_server.visibility import VisibilityError
from tidal_server.visibility.query import MAX_QUERY_LENGTH

from .. import schedule_reads
from ..auth import admission
from ..context import Ctx
from ..operations import (
    backfill_schedule,
    create_schedule,
    delete_schedule,
    pause_schedule,
    trigger_schedule,
    update_schedule,
)
from ..operations._schedules import ScheduleRef
from ..operations.backfill_schedule import BackfillScheduleRequest
from ..operations.create_schedule import CreateScheduleRequest
from ..operations.pause_schedule import PauseScheduleRequest
from ..operations.policy import Admitted
from ..operations.trigger_schedule import TriggerScheduleRequest
from ..operations.update_schedule import UpdateScheduleRequest
from ..problems import responses
from ..schedule_reads import DescribeScheduleResponse, ListSchedulesResponse
from .list_workflows import query_problem
from .models import NamespacePath

__all__ = [
    "backfill",
    "create",
    "delete",
    "describe",
    "list_schedules",
    "pause",
    "schedule_routes",
    "trigger",
    "unpause",
    "update",
]

ScheduleIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)]


async def create(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(create_schedule.POLICY))],
    namespace: NamespacePath,
    body: CreateScheduleRequest,
) -> ScheduleRef:
    del namespace  # documented path parameter; admission read it
    return await create_schedule.create_schedule(ctx, admitted, body)


async def describe(
    ctx: Ctx, namespace: NamespacePath, schedule_id: ScheduleIdPath
) -> DescribeScheduleResponse:
    return schedule_reads.describe(await schedule_reads.load(ctx.engine, namespace, schedule_id))


async def list_schedules(
    ctx: Ctx,
    namespace: NamespacePath,
    query: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_LENGTH,
            description="a filter on the schedules' own search attributes, `ScheduleId` and "
            "`TemporalSchedulePaused`, in the workflow list's language (docs/schedules.md)",
        ),
    ] = "",
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_page_token: Annotated[str | None, Query(max_length=2000)] = None,
) -> ListSchedulesResponse:
    try:
        return await schedule_reads.list_page(
            ctx.engine, namespace, page_size=page_size, page_token=next_page_token, query=query
        )
    except VisibilityError as exc:
        raise query_problem(exc) from None


async def update(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(update_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
    body: UpdateScheduleRequest,
) -> ScheduleRef:
    del namespace
    return await update_schedule.update_schedule(ctx, admitted, schedule_id, body)


async def pause(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(pause_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
    body: PauseScheduleRequest | None = None,
) -> ScheduleRef:
    del namespace
    return await pause_schedule.pause_schedule(ctx, admitted, schedule_id, body or PauseScheduleRequest())


async def unpause(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(pause_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
    body: PauseScheduleRequest | None = None,
) -> ScheduleRef:
    del namespace
    return await pause_schedule.pause_schedule(
        ctx, admitted, schedule_id, body or PauseScheduleRequest(), paused=False
    )


async def trigger(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(trigger_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
    body: TriggerScheduleRequest | None = None,
) -> ScheduleRef:
    del namespace
    return await trigger_schedule.trigger_schedule(
        ctx, admitted, schedule_id, body or TriggerScheduleRequest()
    )


async def backfill(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(backfill_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
    body: BackfillScheduleRequest,
) -> ScheduleRef:
    del namespace
    return await backfill_schedule.backfill_schedule(ctx, admitted, schedule_id, body)


async def delete(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(delete_schedule.POLICY))],
    namespace: NamespacePath,
    schedule_id: ScheduleIdPath,
) -> ScheduleRef:
    del namespace
    return await delete_schedule.delete_schedule(ctx, admitted, schedule_id)


_MANY = "/namespaces/{namespace}/schedules"
_ONE = _MANY + "/{schedule_id:path}"  # ids may hold "/", like workflow ids


def schedule_routes(r: APIRouter, *, auth_errors: tuple[str, ...], read: list[Any]) -> None:
    tags: list[str | Enum] = ["schedules"]

    def write(
        path: str, endpoint: Any, summary: str, *codes: str, method: str = "POST", status: int = 200
    ) -> None:
        r.add_api_route(
            path,
            endpoint,
            methods=[method],
            status_code=status,
            response_model=ScheduleRef,
            tags=tags,
            summary=summary,
            responses=responses("invalid_argument", "unavailable", *codes, *auth_errors),
        )

    write(
        _MANY,
        create,
        "Create a schedule",
        "schedule_already_exists",
        "namespace_deprecated",
        "rate_limited",
        status=201,
    )
    r.add_api_route(
        _MANY,
        list_schedules,
        methods=["GET"],
        response_model=ListSchedulesResponse,
        tags=tags,
        summary="List the namespace's schedules (paged by schedule id)",
        responses=responses("invalid_argument", "unavailable", *auth_errors),
        dependencies=read,
    )
    r.add_api_route(
        _ONE,
        describe,
        methods=["GET"],
        response_model=DescribeScheduleResponse,
        tags=tags,
        summary="Describe a schedule: spec, action, policies, state, recent and next actions",
        responses=responses("not_found", "unavailable", *auth_errors),
        dependencies=read,
    )
    write(
        _ONE + "/update",
        update,
        "Replace a schedule (refused if changed since read)",
        "not_found",
        "conflict",
    )
    write(_ONE + "/pause", pause, "Pause a schedule with a note", "not_found")
    write(_ONE + "/unpause", unpause, "Unpause a schedule", "not_found")
    write(
        _ONE + "/trigger",
        trigger,
        "Take the schedule's action now",
        "not_found",
        "namespace_deprecated",
        "rate_limited",
    )
    write(
        _ONE + "/backfill",
        backfill,
        "Take the actions of past time ranges",
        "not_found",
        "namespace_deprecated",
        "rate_limited",
    )
    write(_ONE, delete, "Delete a schedule (its runs keep running)", "not_found", method="DELETE")
