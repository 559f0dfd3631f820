"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/update: the HTTP adapter of
`operations.update_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..auth import admission
from ..context import Ctx
from ..operations import update_workflow as op
from ..operations.policy import Admitted
from ..operations.update_workflow import UpdateWorkflowRequest, UpdateWorkflowResponse
from .models import NamespacePath, WorkflowIdPath

__all__ = ["UpdateWorkflowRequest", "UpdateWorkflowResponse", "update_workflow"]


async def update_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: UpdateWorkflowRequest,
) -> UpdateWorkflowResponse:
    del namespace  # documented path parameter; admission read it
    return await op.update_workflow(ctx, admitted, workflow_id, body)
