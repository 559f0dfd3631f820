"""POST /api/v1/namespaces/{ns}/workflows: the HTTP adapter of `operations.start_workflow`."""

from __future__ import annotations

from fastapi import Response

from ..auth import Caller
from ..context import Ctx
from ..operations import start_workflow as op
from ..operations.start_workflow import StartSignal, StartWorkflowRequest, StartWorkflowResponse
from .namespaces import NamespaceName

__all__ = ["StartSignal", "StartWorkflowRequest", "StartWorkflowResponse", "start_workflow"]


async def start_workflow(
    ctx: Ctx, who: Caller, namespace: NamespaceName, body: StartWorkflowRequest, response: Response
) -> StartWorkflowResponse:
    answer = await op.start_workflow(ctx, who, namespace, body)
    # 201 Created for a new run; 200 when UseExisting handed back the run already running.
    response.status_code = 201 if answer.started else 200
    return answer
