"""Update-with-start (Temporal's `ExecuteMultiOperation` of a start and an update): start the
workflow and admit the update in one history transaction, or, when the workflow is running and
`id_conflict_policy` is UseExisting, update that run; then wait for the update's stage as
`update_workflow` does. Reached by `POST /api/v1/namespaces/{ns}/update-with-start`.

Retrying with the same `request_id` and `update_id` is safe: history answers a duplicate with the
run it reached, and the wait finds the same update."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field
from tidal_schema import WorkflowIdConflictPolicy
from tidal_schema.messages import StartWorkflowReply, UpdateWithStartWorkflowExecution

from ..context import FrontendContext
from ..problems import Problem
from . import _history, start_workflow, update_workflow
from .policy import Admitted
from .start_workflow import StartWorkflowRequest
from .update_workflow import UpdateWorkflowRequest, UpdateWorkflowResponse

__all__ = ["POLICY", "UpdateWithStartRequest", "UpdateWithStartResponse", "update_with_start"]

# It may start a run: the start's checks (namespace not deprecated, start rate limit) apply.
POLICY = start_workflow.POLICY


class UpdateWithStartRequest(BaseModel):
    start: StartWorkflowRequest = Field(
        description="the start (without start_signal); id_conflict_policy UseExisting updates a "
        "running run instead of failing"
    )
    update: UpdateWorkflowRequest = Field(description="the update (name required; run_id not allowed)")


class UpdateWithStartResponse(BaseModel):
    workflow_id: str
    run_id: str
    started: bool = Field(description="false when the update went to the run already running")
    request_id: str
    update: UpdateWorkflowResponse


async def update_with_start(
    ctx: FrontendContext, admitted: Admitted, body: UpdateWithStartRequest
) -> UpdateWithStartResponse:
    namespace = admitted.namespace_for(POLICY)
    start, update = body.start, body.update
    if start.start_signal is not None:
        raise Problem("invalid_argument", "start.start_signal: not allowed in update-with-start")
    if start.id_conflict_policy is WorkflowIdConflictPolicy.TERMINATE_EXISTING:
        raise Problem("invalid_argument", "start.id_conflict_policy: TerminateExisting is not supported here")
    if update.name is None:
        raise Problem("invalid_argument", "update.name: required")
    if update.run_id is not None:
        raise Problem("invalid_argument", "update.run_id: not allowed (the update goes to the run started)")
    request_id = start.request_id or str(uuid.uuid4())
    update_id = update.update_id or str(uuid.uuid4())
    started = start_workflow.start_message(namespace, start, request_id)
    message = UpdateWithStartWorkflowExecution(
        **started.start_options(),
        update_id=update_id,
        update_name=update.name,
        update_input=update.payloads(),
        update_header=update.header,
    )
    retry = f"retry with the same request_id ({request_id}) and update_id ({update_id})"
    reply = await _history.send(ctx, message, retry_hint=retry)
    assert isinstance(reply, StartWorkflowReply), f"history answered with {type(reply).__name__}"
    answer = await update_workflow.wait_for_stage(
        ctx, namespace, start.workflow_id, reply.run_id, update_id, update
    )
    return UpdateWithStartResponse(
        workflow_id=start.workflow_id,
        run_id=reply.run_id,
        started=reply.started,
        request_id=request_id,
        update=answer,
    )
