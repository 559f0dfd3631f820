"""POST /api/v1/namespaces/{ns}/workflows/{workflow_id}/signal: deliver a signal to a running run."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema.limits import MAX_REQUEST_ID_LENGTH, STORE_SAFE_PATTERN, Name, OptionalId, Text
from tidal_schema.messages import SignalWorkflowExecution

from .. import history_client
from ..context import Ctx
from .models import NamespacePath, RunRef, WithInput, WorkflowIdPath


class SignalWorkflowRequest(WithInput):
    signal_name: Name
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REQUEST_ID_LENGTH,
        pattern=STORE_SAFE_PATTERN,
        description="idempotency key: a retried signal with the same request_id is applied once",
    )
    identity: Text = Field(default="", max_length=1000)


async def signal_workflow(
    ctx: Ctx, namespace: NamespacePath, workflow_id: WorkflowIdPath, body: SignalWorkflowRequest
) -> RunRef:
    request_id = body.request_id or str(uuid.uuid4())
    message = SignalWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        signal_name=body.signal_name,
        input=body.payloads(),
        request_id=request_id,
        identity=body.identity,
    )
    reply = await history_client.send(
        ctx.bus,
        namespace=namespace,
        workflow_id=workflow_id,
        shard_count=ctx.shard_count,
        message=message,
        timeout=ctx.settings.request_timeout_seconds,
        retry_hint=f"retry with the same request_id ({request_id})",
    )
    return RunRef(workflow_id=workflow_id, run_id=reply.run_id)
