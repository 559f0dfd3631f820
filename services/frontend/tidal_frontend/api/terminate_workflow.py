"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/terminate: the HTTP adapter of
`operations.terminate_workflow`."""

from __future__ import annotations

from ..auth import Caller
from ..context import Ctx
from ..operations import terminate_workflow as op
from ..operations.terminate_workflow import TerminateWorkflowRequest
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["TerminateWorkflowRequest", "terminate_workflow"]


async def terminate_workflow(
    ctx: Ctx,
    who: Caller,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: TerminateWorkflowRequest | None = None,
) -> RunRef:
    return await op.terminate_workflow(ctx, who, namespace, workflow_id, body or TerminateWorkflowRequest())
