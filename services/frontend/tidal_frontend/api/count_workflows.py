"""GET /api/v1/namespaces/{ns}/workflow-count?query=...: how many runs match a filter (the same
language and errors as listing; ORDER BY is accepted and ignored). With `GROUP BY
ExecutionStatus` the answer also has the count of each status, from one scan (as Temporal's
CountWorkflowExecutions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from tidal_server.visibility import VisibilityError, count_grouped

from ..context import Ctx
from .list_workflows import QueryParam, query_problem
from .models import NamespacePath


class CountGroup(BaseModel):
    group_values: list[Any] = Field(description='the group\'s values, e.g. ["Running"]')
    count: int


class CountWorkflowsResponse(BaseModel):
    count: int
    groups: list[CountGroup] | None = Field(
        default=None, description="only with GROUP BY ExecutionStatus: each status with runs, most first"
    )


async def count_workflows(
    ctx: Ctx, namespace: NamespacePath, query: QueryParam = ""
) -> CountWorkflowsResponse:
    try:
        result = await count_grouped(ctx.engine, namespace, query)
    except VisibilityError as exc:
        raise query_problem(exc) from None
    groups = None
    if result.groups is not None:
        groups = [CountGroup(group_values=[value], count=n) for value, n in result.groups]
    return CountWorkflowsResponse(count=result.count, groups=groups)
