"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/query: the HTTP adapter of
`operations.query_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..auth import admission
from ..context import Ctx
from ..operations import query_workflow as op
from ..operations.policy import Admitted
from ..operations.query_workflow import QueryWorkflowRequest, QueryWorkflowResponse
from .models import NamespacePath, WorkflowIdPath

__all__ = ["QueryWorkflowRequest", "QueryWorkflowResponse", "query_workflow"]


async def query_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: QueryWorkflowRequest,
) -> QueryWorkflowResponse:
    del namespace  # documented path parameter; admission read it
    return await op.query_workflow(ctx, admitted, workflow_id, body)
