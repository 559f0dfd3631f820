"""Ask a run to cancel; its code sees asyncio.CancelledError, may clean up, and decides how it
ends. Reached by `POST .../workflows/{id}/cancel` and by the `cancel` AMQP command."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema.limits import OptionalId, Text
from tidal_schema.messages import RequestCancelWorkflowExecution
from tidal_server.apikeys import Role

from ..context import FrontendContext
from . import _history
from .models import RequestModel, RunRef
from .policy import Admitted, Policy

__all__ = ["POLICY", "CancelWorkflowRequest", "cancel_workflow"]

POLICY = Policy(role=Role.WRITER)


class CancelWorkflowRequest(RequestModel):
    reason: Text = ""
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    request_id: OptionalId | None = Field(default=None, description="idempotency key")
    identity: Text = Field(default="", max_length=1000)


async def cancel_workflow(
    ctx: FrontendContext, admitted: Admitted, workflow_id: str, body: CancelWorkflowRequest
) -> RunRef:
    namespace = admitted.namespace_for(POLICY)
    message = RequestCancelWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        request_id=body.request_id or str(uuid.uuid4()),
        reason=body.reason,
        identity=body.identity,
    )
    # A second request for the same run is answered without being recorded again.
    reply = await _history.send(ctx, message, retry_hint="retrying is safe")
    return RunRef(workflow_id=workflow_id, run_id=reply.run_id)
