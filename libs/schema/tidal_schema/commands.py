"""Commands a workflow task completes with (Temporal's command types)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from .common import Failure, Frozen, Payload, RetryPolicy


class ScheduleActivityTask(Frozen):
    type: Literal["ScheduleActivityTask"] = "ScheduleActivityTask"
    activity_id: str
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None


class RequestCancelActivityTask(Frozen):
    type: Literal["RequestCancelActivityTask"] = "RequestCancelActivityTask"
    scheduled_event_id: int


class StartTimer(Frozen):
    type: Literal["StartTimer"] = "StartTimer"
    timer_id: str
    start_to_fire_timeout: timedelta


class CancelTimer(Frozen):
    type: Literal["CancelTimer"] = "CancelTimer"
    timer_id: str


class CompleteWorkflowExecution(Frozen):
    type: Literal["CompleteWorkflowExecution"] = "CompleteWorkflowExecution"
    result: tuple[Payload, ...] = ()


class FailWorkflowExecution(Frozen):
    type: Literal["FailWorkflowExecution"] = "FailWorkflowExecution"
    failure: Failure


class CancelWorkflowExecution(Frozen):
    type: Literal["CancelWorkflowExecution"] = "CancelWorkflowExecution"
    details: tuple[Payload, ...] = ()


class ContinueAsNewWorkflowExecution(Frozen):
    type: Literal["ContinueAsNewWorkflowExecution"] = "ContinueAsNewWorkflowExecution"
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    workflow_run_timeout: timedelta | None = None
    workflow_task_timeout: timedelta | None = None


class StartChildWorkflowExecution(Frozen):
    type: Literal["StartChildWorkflowExecution"] = "StartChildWorkflowExecution"
    namespace: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    parent_close_policy: str = "Terminate"
    # Child workflows (issue 3): the child's own timeouts, as for a client start.
    workflow_execution_timeout: timedelta | None = None
    workflow_run_timeout: timedelta | None = None
    workflow_task_timeout: timedelta | None = None


class SignalExternalWorkflowExecution(Frozen):
    type: Literal["SignalExternalWorkflowExecution"] = "SignalExternalWorkflowExecution"
    namespace: str
    workflow_id: str
    run_id: str | None = None
    signal_name: str
    input: tuple[Payload, ...] = ()


class RequestCancelExternalWorkflowExecution(Frozen):
    type: Literal["RequestCancelExternalWorkflowExecution"] = "RequestCancelExternalWorkflowExecution"
    namespace: str
    workflow_id: str
    run_id: str | None = None


class RecordMarker(Frozen):
    type: Literal["RecordMarker"] = "RecordMarker"
    marker_name: str
    details: dict[str, tuple[Payload, ...]] = Field(default_factory=dict)
    failure: Failure | None = None


class UpsertWorkflowSearchAttributesCommand(Frozen):
    type: Literal["UpsertWorkflowSearchAttributes"] = "UpsertWorkflowSearchAttributes"
    search_attributes: dict[str, Any]


class ProtocolMessage(Frozen):
    """Update protocol message (accept / reject / complete an update)."""

    type: Literal["ProtocolMessage"] = "ProtocolMessage"
    update_id: str
    kind: Literal["accept", "reject", "complete"]
    result: tuple[Payload, ...] = ()
    failure: Failure | None = None


Command = Annotated[
    ScheduleActivityTask
    | RequestCancelActivityTask
    | StartTimer
    | CancelTimer
    | CompleteWorkflowExecution
    | FailWorkflowExecution
    | CancelWorkflowExecution
    | ContinueAsNewWorkflowExecution
    | StartChildWorkflowExecution
    | SignalExternalWorkflowExecution
    | RequestCancelExternalWorkflowExecution
    | RecordMarker
    | UpsertWorkflowSearchAttributesCommand
    | ProtocolMessage,
    Field(discriminator="type"),
]
