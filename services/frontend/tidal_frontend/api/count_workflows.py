"""GET /api/v1/namespaces/{ns}/workflow-count?query=...: how many runs match a filter (the same
language and errors as listing; ORDER BY is accepted and ignored)."""

from __future__ import annotations

from pydantic import BaseModel
from tidal_server.visibility import VisibilityError, count_executions

from ..context import Ctx
from .list_workflows import QueryParam, query_problem
from .models import NamespacePath


class CountWorkflowsResponse(BaseModel):
    count: int


async def count_workflows(
    ctx: Ctx, namespace: NamespacePath, query: QueryParam = ""
) -> CountWorkflowsResponse:
    try:
        return CountWorkflowsResponse(count=await count_executions(ctx.engine, namespace, query))
    except VisibilityError as exc:
        raise query_problem(exc) from None
