"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/signal: the HTTP adapter of
`operations.signal_workflow`."""

from __future__ import annotations

from ..auth import Caller
from ..context import Ctx
from ..operations import signal_workflow as op
from ..operations.signal_workflow import SignalWorkflowRequest
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["SignalWorkflowRequest", "signal_workflow"]


async def signal_workflow(
    ctx: Ctx,
    who: Caller,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: SignalWorkflowRequest,
) -> RunRef:
    return await op.signal_workflow(ctx, who, namespace, workflow_id, body)
