"""History messages between shards for child and external workflows (docs/child-workflows.md).
Part of `tidal_schema.messages` (re-exported there, and members of `HistoryMessage`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef, _Message
from .common import Failure, Frozen, Payload, WorkflowExecutionStatus

# --- to history: child and external workflows, across shards (issue 3) -----------------------
# A parent's shard sends the first three to the target workflow's shard (through its outbox); the
# target's shard answers with the others, addressed to the parent run. Every answer names the
# parent's initiated event id, so a duplicate changes nothing.


class ParentRef(Frozen):
    """The run (and its initiating event) that asked for a child start, signal or cancel."""

    namespace: str = "default"
    workflow_id: str
    run_id: str
    initiated_event_id: int


class StartChildWorkflowExecution(_Message):
    type: Literal["StartChildWorkflowExecution"] = "StartChildWorkflowExecution"
    namespace: str = "default"
    workflow_id: str = Field(min_length=1, max_length=1000)
    workflow_type: str = Field(min_length=1, max_length=1000)
    task_queue: str = Field(min_length=1, max_length=1000)
    input: tuple[Payload, ...] = ()
    # "<parent run id>/<initiated event id>": a redelivered start answers with the same child run.
    request_id: str = Field(min_length=1)
    workflow_execution_timeout: timedelta | None = None
    workflow_run_timeout: timedelta | None = None
    workflow_task_timeout: timedelta = timedelta(seconds=10)
    parent: ParentRef
    parent_close_policy: str = "Terminate"


class SignalExternalWorkflowExecution(_Message):
    type: Literal["SignalExternalWorkflowExecution"] = "SignalExternalWorkflowExecution"
    namespace: str = "default"
    workflow_id: str
    run_id: str | None = None
    signal_name: str
    input: tuple[Payload, ...] = ()
    request_id: str
    source: ParentRef


class RequestCancelExternalWorkflowExecution(_Message):
    type: Literal["RequestCancelExternalWorkflowExecution"] = "RequestCancelExternalWorkflowExecution"
    namespace: str = "default"
    workflow_id: str
    run_id: str | None = None
    request_id: str
    source: ParentRef
    reason: str = ""


class ChildWorkflowStarted(_ExecutionRef):
    """To the parent run: its child is running (`child_run_id`)."""

    type: Literal["ChildWorkflowStarted"] = "ChildWorkflowStarted"
    initiated_event_id: int
    child_workflow_id: str
    child_run_id: str
    workflow_type: str


class StartChildWorkflowFailed(_ExecutionRef):
    type: Literal["StartChildWorkflowFailed"] = "StartChildWorkflowFailed"
    initiated_event_id: int
    child_workflow_id: str
    workflow_type: str
    cause: str = "WorkflowAlreadyStarted"


class ChildWorkflowClosed(_ExecutionRef):
    """To the parent run: its child's (last) run closed with `status`."""

    type: Literal["ChildWorkflowClosed"] = "ChildWorkflowClosed"
    initiated_event_id: int
    child_workflow_id: str
    child_run_id: str
    workflow_type: str
    status: WorkflowExecutionStatus
    result: tuple[Payload, ...] = ()
    failure: Failure | None = None


class ExternalWorkflowResult(_ExecutionRef):
    """To the requesting run: its external signal or cancel request was delivered (`failed_cause`
    None) or not (e.g. `ExternalWorkflowExecutionNotFound`)."""

    type: Literal["ExternalWorkflowResult"] = "ExternalWorkflowResult"
    initiated_event_id: int
    kind: Literal["signal", "cancel"]
    target_namespace: str
    target_workflow_id: str
    target_run_id: str | None = None
    failed_cause: str | None = None
