"""GET /api/v1/namespaces/{ns}/workflows?query=...: list runs matching a filter, newest first.

The filter language is described in docs/visibility.md (`WorkflowType = 'Order' AND
ExecutionStatus = 'Running'`). Pages are keyset pages: pass `next_page_token` from the previous
page. A query that does not parse, names an unknown attribute or compares it with a value of the
wrong type is a 400 `invalid_argument` whose body says where (`position`, `token`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field
from tidal_schema import WorkflowExecutionStatus
from tidal_server.visibility import PageTokenError, QueryError, VisibilityError, list_executions

from ..context import Ctx
from ..problems import Problem
from .models import NamespacePath

MAX_PAGE_SIZE = 1000

QueryParam = Annotated[
    str,
    Query(max_length=8192, description="filter, e.g. WorkflowType = 'Order' AND ExecutionStatus = 'Running'"),
]


class WorkflowExecutionInfo(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    memo: dict[str, Any]
    search_attributes: dict[str, Any]


class ListWorkflowsResponse(BaseModel):
    executions: list[WorkflowExecutionInfo]
    next_page_token: str | None = Field(description="pass back for the next page; null on the last")


def query_problem(exc: VisibilityError) -> Problem:
    if isinstance(exc, QueryError):
        return Problem(
            "invalid_argument",
            f"invalid query: {exc}",
            position=exc.position,
            token=exc.token,
            reason=exc.reason,
        )
    if isinstance(exc, PageTokenError):
        return Problem("invalid_argument", str(exc))
    return Problem("invalid_argument", f"invalid query: {exc}")


async def list_workflows(
    ctx: Ctx,
    namespace: NamespacePath,
    query: QueryParam = "",
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    next_page_token: Annotated[
        str | None, Query(max_length=2000, description="from the previous page")
    ] = None,
) -> ListWorkflowsResponse:
    try:
        page = await list_executions(
            ctx.engine, namespace, query, page_size=page_size, page_token=next_page_token or None
        )
    except VisibilityError as exc:
        raise query_problem(exc) from None
    return ListWorkflowsResponse(
        executions=[
            WorkflowExecutionInfo(
                workflow_id=e.workflow_id,
                run_id=e.run_id,
                workflow_type=e.workflow_type,
                task_queue=e.task_queue,
                status=WorkflowExecutionStatus(e.status),
                start_time=e.start_time,
                close_time=e.close_time,
                history_length=e.history_length,
                memo=e.memo,
                search_attributes=e.search_attributes,
            )
            for e in page.executions
        ],
        next_page_token=page.next_page_token,
    )
