"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/cancel: ask a run to cancel; its code sees
asyncio.CancelledError, may clean up, and decides how it ends."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema.limits import OptionalId, Text
from tidal_schema.messages import RequestCancelWorkflowExecution

from .. import history_client
from ..context import Ctx
from .models import NamespacePath, RequestModel, RunRef, WorkflowIdPath


class CancelWorkflowRequest(RequestModel):
    reason: Text = ""
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    request_id: OptionalId | None = Field(default=None, description="idempotency key")
    identity: Text = Field(default="", max_length=1000)


async def cancel_workflow(
    ctx: Ctx,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    body: CancelWorkflowRequest | None = None,
) -> RunRef:
    body = body or CancelWorkflowRequest()
    message = RequestCancelWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        request_id=body.request_id or str(uuid.uuid4()),
        reason=body.reason,
        identity=body.identity,
    )
    reply = await history_client.send(
        ctx.bus,
        namespace=namespace,
        workflow_id=workflow_id,
        shard_count=ctx.shard_count,
        message=message,
        timeout=ctx.settings.request_timeout_seconds,
        # A second request for the same run is answered without being recorded again.
        retry_hint="retrying is safe",
    )
    return RunRef(workflow_id=workflow_id, run_id=reply.run_id)
