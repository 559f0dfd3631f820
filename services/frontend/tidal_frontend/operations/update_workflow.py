"""Send an update and wait for it. Reached by `POST .../workflows/{id}/update`.

The update goes to the owning history shard (`UpdateWorkflowExecution`, deduplicated by
`update_id`: sending the same id again never admits it twice, it waits for the same update).
History keeps it in the run's mutable state and gets it to a worker; the frontend then waits,
up to `wait` seconds, until the update reaches `wait_for_stage` in that state document (polling
the database with backoff: history publishes no notification for update progress yet). The
answer is the stage reached; at `completed`, the result or the failure (a rejection is a
failure, and left no event in history).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Literal

from pydantic import BaseModel, Field
from tidal_schema import Failure, Payload
from tidal_schema.limits import Id, Name, OptionalId, Text
from tidal_schema.messages import UpdateWorkflowExecution
from tidal_schema.run_document import UpdateInfo
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ..problems import Problem
from . import _history
from .models import WithInput, not_found
from .policy import Admitted, Policy

Stage = Literal["admitted", "accepted", "completed"]
_ORDER = {"admitted": 1, "accepted": 2, "completed": 3}


__all__ = ["POLICY", "UpdateWorkflowRequest", "UpdateWorkflowResponse", "update_workflow", "wait_for_stage"]

POLICY = Policy(role=Role.WRITER)


class UpdateWorkflowRequest(WithInput):
    name: Name | None = Field(
        default=None,
        description="the update handler; leave out (with update_id) to only wait for a known update",
    )
    update_id: Id | None = Field(default=None, description="dedup key (default: a new uuid)")
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    wait_for_stage: Literal["accepted", "completed"] = "completed"
    wait: float = Field(default=30.0, ge=0, description="seconds to wait for that stage")
    identity: Text = Field(default="", max_length=1000)
    header: dict[Name, Payload] = Field(
        default_factory=dict,
        description="Temporal's update header (what client interceptors add), handed to the "
        "workflow's update validator and handler and recorded in WorkflowExecutionUpdateAccepted",
    )


class UpdateWorkflowResponse(BaseModel):
    workflow_id: str
    run_id: str
    update_id: str
    stage: Stage
    result: list[Payload] | None = Field(default=None, description="when completed successfully")
    failure: Failure | None = Field(default=None, description="when rejected or the handler failed")
    rejected: bool = False


async def update_workflow(
    ctx: FrontendContext, admitted: Admitted, workflow_id: str, body: UpdateWorkflowRequest
) -> UpdateWorkflowResponse:
    namespace = admitted.namespace_for(POLICY)
    update_id = body.update_id or str(uuid.uuid4())
    if body.name is None:
        if body.update_id is None:
            raise Problem("invalid_argument", "give the update's name (or the update_id of a known update)")
        row = await ctx.store.execution(namespace, workflow_id, body.run_id or None)
        doc = row.document() if row is not None else None
        if row is None or doc is None or update_id not in doc.updates:
            raise Problem("not_found", f"no update {update_id!r} of workflow {workflow_id!r}")
        return await wait_for_stage(ctx, namespace, workflow_id, row.run_id, update_id, body)
    message = UpdateWorkflowExecution(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=body.run_id or None,
        update_id=update_id,
        name=body.name,
        input=body.payloads(),
        header=body.header,
        identity=body.identity,
    )
    reply = await _history.send(ctx, message, retry_hint=f"retry with the same update_id ({update_id})")
    return await wait_for_stage(ctx, namespace, workflow_id, reply.run_id or body.run_id, update_id, body)


async def wait_for_stage(
    ctx: FrontendContext,
    namespace: str,
    workflow_id: str,
    run_id: str | None,
    update_id: str,
    body: UpdateWorkflowRequest,
) -> UpdateWorkflowResponse:
    deadline = time.monotonic() + min(body.wait, ctx.settings.long_poll_max_seconds)
    delay = 0.02
    while True:
        info, running = await _read(ctx, namespace, workflow_id, run_id, update_id)
        stage = info.stage if info is not None else "admitted"
        if _ORDER[stage] >= _ORDER[body.wait_for_stage]:
            break
        if not running:
            raise Problem(
                "not_found",
                f"workflow {workflow_id!r} closed before update {update_id!r} was {body.wait_for_stage}",
            )
        if time.monotonic() + delay > deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    assert run_id is not None
    return UpdateWorkflowResponse(
        workflow_id=workflow_id,
        run_id=run_id,
        update_id=update_id,
        stage=stage,
        result=list(info.result) if info is not None and info.result is not None else None,
        failure=info.failure if info is not None else None,
        rejected=info is not None and info.rejected,
    )


async def _read(
    ctx: FrontendContext, namespace: str, workflow_id: str, run_id: str | None, update_id: str
) -> tuple[UpdateInfo | None, bool]:
    """The update as the run's document has it (its shared schema), None while unknown."""
    row = await ctx.store.execution(namespace, workflow_id, run_id)
    if row is None:
        raise not_found(namespace, workflow_id, run_id)
    doc = row.document()
    return (doc.updates.get(update_id) if doc is not None else None), row.running
