"""Starts of a new run (to history, routed to the owning shard): a plain start, signal-with-start
and update-with-start, which share the new run's options. Part of `tidal_schema.messages`
(re-exported there)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from ._message_base import _Message
from ._request_messages import SignalWorkflowExecution, UpdateWorkflowExecution
from ._schedule_messages import ScheduleLink
from .common import (
    Payload,
    Priority,
    RetryPolicy,
    WorkflowIdConflictPolicy,
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

__all__ = ["SignalWithStartWorkflowExecution", "StartWorkflowExecution", "UpdateWithStartWorkflowExecution"]


class _StartOptions(_Message):
    """What a start says about the new run (shared by StartWorkflowExecution and
    SignalWithStartWorkflowExecution)."""

    namespace: NamespaceName = "default"
    workflow_id: Id
    workflow_type: Name
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    request_id: Id
    workflow_execution_timeout: Duration | None = None
    workflow_run_timeout: Duration | None = None
    workflow_task_timeout: Duration = timedelta(seconds=10)
    id_reuse_policy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: WorkflowIdConflictPolicy = WorkflowIdConflictPolicy.FAIL
    retry_policy: RetryPolicy | None = None
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    start_delay: Duration | None = None
    # Temporal's cron schedule (docs/schedules.md#cron-schedules-on-workflows): the first run
    # waits for the first cron time, each close starts the next run. Checked by the frontend.
    cron_schedule: Text | None = None
    identity: Text = ""
    # User metadata shown by describe (temporalio's `static_summary` / `static_details`).
    static_summary: Text | None = None
    static_details: Text | None = None
    priority: Priority | None = None
    # Temporal's start header: context the client's interceptors add (trace ids, auth, tenant),
    # recorded in WorkflowExecutionStarted and read by the workflow as `workflow.info().headers`.
    header: dict[Name, Payload] = Field(default_factory=dict)
    # Set by a schedule's action (history to history only): the run tells the schedule's shard
    # when it starts and closes (docs/schedules.md).
    scheduled_by: ScheduleLink | None = None

    def start_options(self) -> dict[str, Any]:
        """The options every start shares: what a signal- or update-with-start built from a start
        takes (a start's own fields, e.g. `request_eager_execution`, stay behind)."""
        return {k: getattr(self, k) for k in _StartOptions.model_fields}


class StartWorkflowExecution(_StartOptions):
    type: Literal["StartWorkflowExecution"] = "StartWorkflowExecution"
    # Temporal's eager workflow start: the requesting client has a worker on `task_queue` with a
    # free workflow task slot reserved for this run. History may hand the first workflow task back
    # in the reply instead of through matching (services/history api/eager_start.py); it is a
    # request, never a promise: a reply without `eager_workflow_task` means the task went the
    # usual way.
    request_eager_execution: bool = False


class SignalWithStartWorkflowExecution(_StartOptions):
    """Signal the running run of `workflow_id`, or start one (per `id_reuse_policy`) with the
    signal recorded right after WorkflowExecutionStarted, in the same transaction. `request_id`
    deduplicates both the start and the signal."""

    type: Literal["SignalWithStartWorkflowExecution"] = "SignalWithStartWorkflowExecution"
    signal_name: Name
    signal_input: tuple[Payload, ...] = ()

    def start_part(self) -> StartWorkflowExecution:
        return StartWorkflowExecution(**self.start_options())

    def signal_part(self, run_id: OptionalId | None = None) -> SignalWorkflowExecution:
        return SignalWorkflowExecution(
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            run_id=run_id,
            signal_name=self.signal_name,
            input=self.signal_input,
            request_id=self.request_id,
            identity=self.identity,
            header=self.header,
        )


class UpdateWithStartWorkflowExecution(_StartOptions):
    """Temporal's update-with-start: start a run (per `id_reuse_policy`) and admit the update in
    the same transaction, so its first workflow task carries it; or, when the workflow is running
    and `id_conflict_policy` is UseExisting, only admit the update to that run. `request_id`
    deduplicates the start, `update_id` the update."""

    type: Literal["UpdateWithStartWorkflowExecution"] = "UpdateWithStartWorkflowExecution"
    update_id: Id
    update_name: Name
    update_input: tuple[Payload, ...] = ()
    # The update's own header (the start's is `header`).
    update_header: dict[Name, Payload] = Field(default_factory=dict)

    def start_part(self) -> StartWorkflowExecution:
        return StartWorkflowExecution(**self.start_options())

    def update_part(self, run_id: OptionalId | None = None) -> UpdateWorkflowExecution:
        return UpdateWorkflowExecution(
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            run_id=run_id,
            update_id=self.update_id,
            name=self.update_name,
            input=self.update_input,
            header=self.update_header,
            identity=self.identity,
        )
