"""History messages between shards for child and external workflows (docs/child-workflows.md).
Part of `tidal_schema.messages` (re-exported there, and members of `HistoryMessage`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef, _Message
from .common import (
    Failure,
    Frozen,
    Payload,
    Priority,
    RetryPolicy,
    WorkflowExecutionStatus,
    WorkflowIdReusePolicy,
)
from .limits import (
    Duration,
    Id,
    JsonValue,
    Name,
    NamespaceName,
    OptionalId,
    TaskQueueName,
    Text,
)

# --- to history: child and external workflows, across shards (issue 3) -----------------------
# A parent's shard sends the first three to the target workflow's shard (through its outbox); the
# target's shard answers with the others, addressed to the parent run. Every answer names the
# parent's initiated event id, so a duplicate changes nothing.


class ParentRef(Frozen):
    """The run (and its initiating event) that asked for a child start, signal or cancel."""

    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: Id
    initiated_event_id: int
    # For a child start: the top of the parent's chain of parents (None: the parent itself).
    root_workflow_id: OptionalId | None = None
    root_run_id: OptionalId | None = None


class StartChildWorkflowExecution(_Message):
    type: Literal["StartChildWorkflowExecution"] = "StartChildWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    workflow_type: Name
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    # "<parent run id>/<initiated event id>": a redelivered start answers with the same child run.
    request_id: Id
    workflow_execution_timeout: Duration | None = None
    workflow_run_timeout: Duration | None = None
    workflow_task_timeout: Duration = timedelta(seconds=10)
    parent: ParentRef
    parent_close_policy: Name = "Terminate"
    priority: Priority | None = None
    id_reuse_policy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE
    retry_policy: RetryPolicy | None = None
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    static_summary: Text | None = None
    static_details: Text | None = None
    header: dict[Name, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')
    cron_schedule: Text | None = None


class SignalExternalWorkflowExecution(_Message):
    type: Literal["SignalExternalWorkflowExecution"] = "SignalExternalWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    signal_name: Name
    input: tuple[Payload, ...] = ()
    header: dict[Name, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')
    request_id: Id
    source: ParentRef


class RequestCancelExternalWorkflowExecution(_Message):
    type: Literal["RequestCancelExternalWorkflowExecution"] = "RequestCancelExternalWorkflowExecution"
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: OptionalId | None = None
    request_id: Id
    source: ParentRef
    reason: Text = ""


class ChildWorkflowStarted(_ExecutionRef):
    """To the parent run: its child is running (`child_run_id`)."""

    type: Literal["ChildWorkflowStarted"] = "ChildWorkflowStarted"
    initiated_event_id: int
    child_workflow_id: Id
    child_run_id: Id
    workflow_type: Name


class StartChildWorkflowFailed(_ExecutionRef):
    type: Literal["StartChildWorkflowFailed"] = "StartChildWorkflowFailed"
    initiated_event_id: int
    child_workflow_id: Id
    workflow_type: Name
    cause: Name = "WorkflowAlreadyStarted"


class ChildWorkflowClosed(_ExecutionRef):
    """To the parent run: its child's (last) run closed with `status`."""

    type: Literal["ChildWorkflowClosed"] = "ChildWorkflowClosed"
    initiated_event_id: int
    child_workflow_id: Id
    child_run_id: Id
    workflow_type: Name
    status: WorkflowExecutionStatus
    result: tuple[Payload, ...] = ()
    failure: Failure | None = None


class ExternalWorkflowResult(_ExecutionRef):
    """To the requesting run: its external signal or cancel request was delivered (`failed_cause`
    None) or not (e.g. `ExternalWorkflowExecutionNotFound`)."""

    type: Literal["ExternalWorkflowResult"] = "ExternalWorkflowResult"
    initiated_event_id: int
    kind: Literal["signal", "cancel"]
    target_namespace: NamespaceName
    target_workflow_id: Id
    target_run_id: OptionalId | None = None
    failed_cause: Name | None = None
