"""Commands a workflow task completes with (Temporal's command types)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .common import Failure, Frozen, Payload, Priority, RetryPolicy, WorkflowIdReusePolicy
from .limits import (
    Duration,
    Id,
    JsonValue,
    Name,
    NamespaceName,
    OptionalId,
    PositiveDuration,
    TaskQueueName,
    Text,
)


class ScheduleActivityTask(Frozen):
    type: Literal["ScheduleActivityTask"] = "ScheduleActivityTask"
    activity_id: Id
    activity_type: Name
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    schedule_to_close_timeout: Duration | None = None
    schedule_to_start_timeout: Duration | None = None
    start_to_close_timeout: Duration | None = None
    heartbeat_timeout: Duration | None = None
    retry_policy: RetryPolicy | None = None
    priority: Priority | None = None
    # Temporal's eager activity execution: the completing worker has a free activity slot and asks
    # history to hand this activity straight back to it (to its sticky queue) instead of through
    # matching. A request, not a promise: history honours it for the run's own task queue, at most
    # a few per task, and falls back to matching when the worker's queue is gone.
    request_eager_execution: bool = False
    # User metadata (temporalio's `summary=`), recorded on ActivityTaskScheduled for UIs.
    summary: Text | None = None
    # Temporal's header: what the workflow's outbound interceptors added (trace context...),
    # handed to the activity's interceptors (`ExecuteActivityInput.headers`).
    header: dict[Name, Payload] = Field(default_factory=dict)


class RequestCancelActivityTask(Frozen):
    type: Literal["RequestCancelActivityTask"] = "RequestCancelActivityTask"
    scheduled_event_id: int


class StartTimer(Frozen):
    type: Literal["StartTimer"] = "StartTimer"
    timer_id: Id
    start_to_fire_timeout: PositiveDuration
    # User metadata (temporalio's `workflow.sleep(summary=)`, `wait_condition(timeout_summary=)`).
    summary: Text | None = None


class CancelTimer(Frozen):
    type: Literal["CancelTimer"] = "CancelTimer"
    timer_id: Id


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
    workflow_type: Name
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    workflow_run_timeout: Duration | None = None
    workflow_task_timeout: Duration | None = None
    # temporalio's `continue_as_new` options. None: the successor keeps the run's (memo, search
    # attributes as upserted, retry policy), as in Temporal.
    backoff_start_interval: Duration | None = None
    retry_policy: RetryPolicy | None = None
    memo: dict[Name, Payload] | None = None
    search_attributes: dict[Name, JsonValue] | None = None
    # Temporal's header (the outbound interceptors'): the new run's start header.
    header: dict[Name, Payload] = Field(default_factory=dict)


class StartChildWorkflowExecution(Frozen):
    type: Literal["StartChildWorkflowExecution"] = "StartChildWorkflowExecution"
    namespace: NamespaceName
    workflow_id: Id
    workflow_type: Name
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    parent_close_policy: Name = "Terminate"
    # Child workflows (issue 3): the child's own timeouts, as for a client start.
    workflow_execution_timeout: Duration | None = None
    workflow_run_timeout: Duration | None = None
    workflow_task_timeout: Duration | None = None
    # Temporal's Priority; the fields left unset are the parent's (as for activities).
    priority: Priority | None = None
    # The start options temporalio's `start_child_workflow` takes, with a client start's meaning.
    id_reuse_policy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE
    retry_policy: RetryPolicy | None = None
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    static_summary: Text | None = None
    static_details: Text | None = None
    # Temporal's header (the parent's outbound interceptors): the child's start header.
    header: dict[Name, Payload] = Field(default_factory=dict)
    cron_schedule: Text | None = None


class SignalExternalWorkflowExecution(Frozen):
    type: Literal["SignalExternalWorkflowExecution"] = "SignalExternalWorkflowExecution"
    namespace: NamespaceName
    workflow_id: Id
    run_id: OptionalId | None = None
    signal_name: Name
    input: tuple[Payload, ...] = ()
    # Temporal's header (the outbound interceptors'): recorded on WorkflowExecutionSignaled.
    header: dict[Name, Payload] = Field(default_factory=dict)


class RequestCancelExternalWorkflowExecution(Frozen):
    type: Literal["RequestCancelExternalWorkflowExecution"] = "RequestCancelExternalWorkflowExecution"
    namespace: NamespaceName
    workflow_id: Id
    run_id: OptionalId | None = None
    # temporalio's `ExternalWorkflowHandle.cancel(reason=)`; empty: "requested by workflow <id>".
    reason: Text = ""


class RecordMarker(Frozen):
    type: Literal["RecordMarker"] = "RecordMarker"
    marker_name: Name
    details: dict[Name, tuple[Payload, ...]] = Field(default_factory=dict)
    failure: Failure | None = None
    summary: Text | None = None  # user metadata (a local activity's `summary=`)


class UpsertWorkflowSearchAttributesCommand(Frozen):
    type: Literal["UpsertWorkflowSearchAttributes"] = "UpsertWorkflowSearchAttributes"
    search_attributes: dict[Name, JsonValue]


class ModifyWorkflowPropertiesCommand(Frozen):
    """`workflow.upsert_memo` (Temporal's ModifyWorkflowProperties): each key's payload replaces
    the memo's; a `binary/null` payload (the value None) removes the key."""

    type: Literal["ModifyWorkflowProperties"] = "ModifyWorkflowProperties"
    upserted_memo: dict[Name, Payload]


class ProtocolMessage(Frozen):
    """Update protocol message (accept / reject / complete an update)."""

    type: Literal["ProtocolMessage"] = "ProtocolMessage"
    update_id: Id
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
    | ModifyWorkflowPropertiesCommand
    | ProtocolMessage,
    Field(discriminator="type"),
]
