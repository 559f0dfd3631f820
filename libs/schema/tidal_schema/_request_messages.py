"""What clients ask of a workflow that may be running: signal, terminate, cancel and update (to
history, routed to the owning shard). Part of `tidal_schema.messages` (re-exported there)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._message_base import _Message
from .common import (
    Frozen,
    Payload,
)
from .limits import (
    Id,
    Name,
    NamespaceName,
    OptionalId,
    Text,
)

__all__ = [
    "RequestCancelWorkflowExecution",
    "SignalWorkflowExecution",
    "TerminateWorkflowExecution",
    "UpdateRequest",
    "UpdateWorkflowExecution",
]


class SignalWorkflowExecution(_Message):
    type: Literal["SignalWorkflowExecution"] = "SignalWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    signal_name: Name
    input: tuple[Payload, ...] = ()
    request_id: Id
    identity: Text = ""
    # Temporal's signal header (client interceptors), recorded in WorkflowExecutionSignaled.
    header: dict[Name, Payload] = Field(default_factory=dict)


class TerminateWorkflowExecution(_Message):
    type: Literal["TerminateWorkflowExecution"] = "TerminateWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    reason: Text = ""
    identity: Text = ""
    # temporalio's `terminate(*args)`, recorded in WorkflowExecutionTerminated.
    details: tuple[Payload, ...] = ()


class RequestCancelWorkflowExecution(_Message):
    """Ask a workflow to cancel: its code sees asyncio.CancelledError and decides how to end."""

    type: Literal["RequestCancelWorkflowExecution"] = "RequestCancelWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    request_id: Id
    reason: Text = ""
    identity: Text = ""


# --- updates: frontend -> history; delivered to workers inside workflow tasks --------------


class UpdateRequest(Frozen):
    """An admitted update, handed to the worker with a workflow task: the worker validates it and
    answers with a ProtocolMessage command (accept or reject, later complete)."""

    update_id: Id
    name: str
    input: tuple[Payload, ...] = ()
    # Temporal's update header (client interceptors'), for the workflow's inbound interceptors.
    header: dict[str, Payload] = Field(default_factory=dict)


class UpdateWorkflowExecution(_Message):
    """Admit an update (deduplicated by `update_id`). History keeps it in mutable state, not in
    history, until a worker accepts it; a rejected update leaves no event."""

    type: Literal["UpdateWorkflowExecution"] = "UpdateWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    update_id: Id
    name: Name
    input: tuple[Payload, ...] = ()
    # Temporal's update header (client interceptors'): kept with the admitted update, handed to
    # the worker with it and recorded in WorkflowExecutionUpdateAccepted.
    header: dict[Name, Payload] = Field(default_factory=dict)
    identity: Text = ""
