"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/cancel: the HTTP adapter of
`operations.cancel_workflow`."""

from __future__ import annotations

from ..auth import Caller
from ..context import Ctx
from ..operations import cancel_workflow as op
from ..operations.cancel_workflow import CancelWorkflowRequest
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["CancelWorkflowRequest", "cancel_workflow"]


async def cancel_workflow(
    ctx: Ctx,
    who: Caller,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: CancelWorkflowRequest | None = None,
) -> RunRef:
    return await op.cancel_workflow(ctx, who, namespace, workflow_id, body or CancelWorkflowRequest())
