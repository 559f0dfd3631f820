"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/signal: the HTTP adapter of
`operations.signal_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..auth import admission
from ..context import Ctx
from ..operations import signal_workflow as op
from ..operations.policy import Admitted
from ..operations.signal_workflow import SignalWorkflowRequest
from .models import NamespacePath, RunRef, WorkflowIdPath

__all__ = ["SignalWorkflowRequest", "signal_workflow"]


async def signal_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: SignalWorkflowRequest,
) -> RunRef:
    del namespace  # documented path parameter; admission read it
    return await op.signal_workflow(ctx, admitted, workflow_id, body)
