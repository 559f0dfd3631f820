"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/cancel: the HTTP adapter of
`operations.cancel_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..auth import admission
from ..context import Ctx
from ..operations import cancel_workflow as op
from ..operations.cancel_workflow import CancelWorkflowRequest
from ..operations.policy import Admitted
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["CancelWorkflowRequest", "cancel_workflow"]


async def cancel_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: CancelWorkflowRequest | None = None,
) -> RunRef:
    del namespace  # documented path parameter; admission read it
    return await op.cancel_workflow(ctx, admitted, workflow_id, body or CancelWorkflowRequest())
