"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/terminate: the HTTP adapter of
`operations.terminate_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..auth import admission
from ..context import Ctx
from ..operations import terminate_workflow as op
from ..operations.policy import Admitted
from ..operations.terminate_workflow import TerminateWorkflowRequest
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["TerminateWorkflowRequest", "terminate_workflow"]


async def terminate_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: TerminateWorkflowRequest | None = None,
) -> RunRef:
    del namespace  # documented path parameter; admission read it
    return await op.terminate_workflow(ctx, admitted, workflow_id, body or TerminateWorkflowRequest())
