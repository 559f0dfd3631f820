"""POST /api/v1/namespaces/{ns}/workflows: the HTTP adapter of `operations.start_workflow`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from ..auth import admission
from ..context import Ctx
from ..operations import start_workflow as op
from ..operations.policy import Admitted
from ..operations.start_workflow import StartSignal, StartWorkflowRequest, StartWorkflowResponse
from .namespaces import NamespaceName

__all__ = ["StartSignal", "StartWorkflowRequest", "StartWorkflowResponse", "start_workflow"]


async def start_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespaceName,
    body: StartWorkflowRequest,
    response: Response,
) -> StartWorkflowResponse:
    del namespace  # documented path parameter; admission read it
    answer = await op.start_workflow(ctx, admitted, body)
    # 201 Created for a new run; 200 when UseExisting handed back the run already running.
    response.status_code = 201 if answer.started else 200
    return answer
