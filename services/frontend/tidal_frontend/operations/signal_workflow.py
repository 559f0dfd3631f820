"""Deliver a signal to a running run. Reached by `POST .../workflows/{id}/signal` and by the
`signal` AMQP command."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema import Payload
from tidal_schema.limits import STORE_SAFE_PATTERN, Name, OptionalId, Text
from tidal_schema.messages import SignalWorkflowExecution
from tidal_server.apikeys import Role

from ..context import FrontendContext
from . import _history
from .models import RunRef, WithInput
from .policy import Admitted, Policy

__all__ = ["POLICY", "SignalWorkflowRequest", "signal_workflow"]

POLICY = Policy(role=Role.WRITER)


class SignalWorkflowRequest(WithInput):
    signal_name: Name
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=STORE_SAFE_PATTERN,
        description="idempotency key: a retried signal with the same request_id is applied once",
    )
    identity: Text = Field(default="", max_length=1000)
    header: dict[Name, Payload] = Field(
        default_factory=dict,
        description="Temporal's signal header (what client interceptors add), recorded in "
        "WorkflowExecutionSignaled",
    )


async def signal_workflow(
    ctx: FrontendContext, admitted: Admitted, workflow_id: str, body: SignalWorkflowRequest
) -> RunRef:
    namespace = admitted.namespace_for(POLICY)
    request_id = body.request_id or str(uuid.uuid4())
    message = SignalWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        signal_name=body.signal_name,
        input=body.payloads(),
        request_id=request_id,
        identity=body.identity,
        header=body.header,
    )
    reply = await _history.send(ctx, message, retry_hint=f"retry with the same request_id ({request_id})")
    return RunRef(workflow_id=workflow_id, run_id=reply.run_id)
