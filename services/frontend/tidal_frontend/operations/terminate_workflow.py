"""End a run now, no cleanup code. Reached by `POST .../workflows/{id}/terminate` and by the
`terminate` AMQP command."""

from __future__ import annotations

from pydantic import Field
from tidal_schema import Payload
from tidal_schema.limits import OptionalId, Text
from tidal_schema.messages import TerminateWorkflowExecution
from tidal_server.apikeys import Role

from ..context import FrontendContext
from . import _history
from .models import RequestModel, RunRef
from .policy import Admitted, Policy

__all__ = ["POLICY", "TerminateWorkflowRequest", "terminate_workflow"]

POLICY = Policy(role=Role.WRITER)


class TerminateWorkflowRequest(RequestModel):
    reason: Text = ""
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    identity: Text = Field(default="", max_length=1000)
    details: list[Payload] = Field(
        default_factory=list,
        description="temporalio's `terminate(*args)`: encoded payloads, recorded in the event",
    )


async def terminate_workflow(
    ctx: FrontendContext, admitted: Admitted, workflow_id: str, body: TerminateWorkflowRequest
) -> RunRef:
    namespace = admitted.namespace_for(POLICY)
    message = TerminateWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        reason=body.reason,
        identity=body.identity,
        details=tuple(body.details),
    )
    # Terminating twice is harmless: the second finds the run closed (404).
    reply = await _history.send(ctx, message, retry_hint="retrying is safe")
    return RunRef(workflow_id=workflow_id, run_id=reply.run_id)
