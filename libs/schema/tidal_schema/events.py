"""History events, following Temporal's event types and semantics.

An event is `HistoryEvent(event_id, event_time, attributes)`; the attributes model carries the
`type` discriminator. Event ids are contiguous per run, starting at 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from .common import Failure, Frozen, Payload, Priority, RetryPolicy, TimeoutType


class WorkflowExecutionStarted(Frozen):
    type: Literal["WorkflowExecutionStarted"] = "WorkflowExecutionStarted"
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    workflow_execution_timeout: timedelta | None = None
    workflow_run_timeout: timedelta | None = None
    workflow_task_timeout: timedelta = timedelta(seconds=10)
    original_execution_run_id: str = ""
    first_execution_run_id: str = ""
    continued_execution_run_id: str | None = None
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    # The top of the chain of parents (a child's, kept by continue-as-new and retries), as
    # Temporal's root_workflow_execution; None for a run without a parent.
    root_workflow_id: str | None = None
    root_run_id: str | None = None
    attempt: int = 1
    retry_policy: RetryPolicy | None = None
    # When the whole chain of retries must end (start + workflow_execution_timeout).
    workflow_execution_expiration_time: datetime | None = None
    cron_schedule: str | None = None
    memo: dict[str, Payload] = Field(default_factory=dict)
    search_attributes: dict[str, Any] = Field(default_factory=dict)
    identity: str = ""
    request_id: str = ""
    # How long after this event the first workflow task is scheduled (start_delay, or a retry's
    # backoff): the run's execution time is the event time plus this, as in Temporal.
    first_workflow_task_backoff: timedelta | None = None
    # Temporal's user metadata of the start (plain text here).
    static_summary: str | None = None
    static_details: str | None = None
    priority: Priority | None = None
    # Temporal's `header` of the start: what client interceptors added (`info().headers`).
    header: dict[str, Payload] = Field(default_factory=dict)
    # The failure of the attempt this retry follows (Temporal's continued_failure), read by
    # `workflow.get_last_failure()`.
    continued_failure: Failure | None = None
    # Temporal's result of the previous cron run that completed
    # (`workflow.get_last_completion_result()`), carried through failed cron runs.
    last_completion_result: tuple[Payload, ...] = ()
    # Temporal's ContinueAsNewInitiator of a successor run: "Workflow", "Retry", "CronSchedule".
    initiator: str | None = None


class WorkflowExecutionCompleted(Frozen):
    type: Literal["WorkflowExecutionCompleted"] = "WorkflowExecutionCompleted"
    result: tuple[Payload, ...] = ()
    workflow_task_completed_event_id: int
    # Set when the run's cron schedule started the next run.
    new_execution_run_id: str | None = None


class WorkflowExecutionFailed(Frozen):
    type: Literal["WorkflowExecutionFailed"] = "WorkflowExecutionFailed"
    failure: Failure
    workflow_task_completed_event_id: int
    # Set when the workflow's retry policy (or its cron schedule) started another run.
    new_execution_run_id: str | None = None


class WorkflowExecutionTimedOut(Frozen):
    type: Literal["WorkflowExecutionTimedOut"] = "WorkflowExecutionTimedOut"
    new_execution_run_id: str | None = None  # the next run of its cron schedule


class WorkflowExecutionCanceled(Frozen):
    type: Literal["WorkflowExecutionCanceled"] = "WorkflowExecutionCanceled"
    workflow_task_completed_event_id: int
    details: tuple[Payload, ...] = ()


class WorkflowExecutionTerminated(Frozen):
    type: Literal["WorkflowExecutionTerminated"] = "WorkflowExecutionTerminated"
    reason: str = ""
    identity: str = ""
    details: tuple[Payload, ...] = ()


class WorkflowExecutionContinuedAsNew(Frozen):
    type: Literal["WorkflowExecutionContinuedAsNew"] = "WorkflowExecutionContinuedAsNew"
    new_execution_run_id: str
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    workflow_task_completed_event_id: int


class WorkflowExecutionSignaled(Frozen):
    type: Literal["WorkflowExecutionSignaled"] = "WorkflowExecutionSignaled"
    signal_name: str
    input: tuple[Payload, ...] = ()
    identity: str = ""
    request_id: str = ""
    header: dict[str, Payload] = Field(default_factory=dict)


class WorkflowExecutionCancelRequested(Frozen):
    type: Literal["WorkflowExecutionCancelRequested"] = "WorkflowExecutionCancelRequested"
    cause: str = ""
    identity: str = ""
    request_id: str = ""


class WorkflowTaskScheduled(Frozen):
    type: Literal["WorkflowTaskScheduled"] = "WorkflowTaskScheduled"
    task_queue: str
    start_to_close_timeout: timedelta = timedelta(seconds=10)
    attempt: int = 1


class WorkflowTaskStarted(Frozen):
    type: Literal["WorkflowTaskStarted"] = "WorkflowTaskStarted"
    scheduled_event_id: int
    identity: str = ""
    request_id: str = ""
    # What the task told the workflow (Temporal's fields of this event), so a replay reads the
    # same `info().get_current_history_size()` / `is_continue_as_new_suggested()`.
    history_size_bytes: int = 0
    suggest_continue_as_new: bool = False
    # When the worker took the task (Temporal's time of this event): `workflow.now()` of the
    # task, on its first run and on replay. Tidal writes this event with the task's outcome, so
    # its own event time is the completion's; None in histories from before it was recorded
    # (their tasks' time is their WorkflowTaskScheduled's).
    started_time: datetime | None = None


class WorkflowTaskCompleted(Frozen):
    type: Literal["WorkflowTaskCompleted"] = "WorkflowTaskCompleted"
    scheduled_event_id: int
    started_event_id: int
    identity: str = ""
    binary_checksum: str = ""


class WorkflowTaskTimedOut(Frozen):
    type: Literal["WorkflowTaskTimedOut"] = "WorkflowTaskTimedOut"
    scheduled_event_id: int
    started_event_id: int
    timeout_type: TimeoutType = TimeoutType.START_TO_CLOSE


class WorkflowTaskFailed(Frozen):
    type: Literal["WorkflowTaskFailed"] = "WorkflowTaskFailed"
    scheduled_event_id: int
    started_event_id: int
    cause: str = "WorkflowWorkerUnhandledFailure"
    failure: Failure | None = None
    identity: str = ""


class ActivityTaskScheduled(Frozen):
    type: Literal["ActivityTaskScheduled"] = "ActivityTaskScheduled"
    activity_id: str
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    workflow_task_completed_event_id: int
    retry_policy: RetryPolicy | None = None
    # The activity's own priority fields over the run's (Temporal's inheritance).
    priority: Priority | None = None
    summary: str | None = None  # user metadata from the command (temporalio's `summary=`)
    header: dict[str, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')


class ActivityTaskStarted(Frozen):
    type: Literal["ActivityTaskStarted"] = "ActivityTaskStarted"
    scheduled_event_id: int
    identity: str = ""
    attempt: int = 1
    last_failure: Failure | None = None


class ActivityTaskCompleted(Frozen):
    type: Literal["ActivityTaskCompleted"] = "ActivityTaskCompleted"
    result: tuple[Payload, ...] = ()
    scheduled_event_id: int
    started_event_id: int
    identity: str = ""


class ActivityTaskFailed(Frozen):
    type: Literal["ActivityTaskFailed"] = "ActivityTaskFailed"
    failure: Failure
    scheduled_event_id: int
    started_event_id: int
    identity: str = ""
    retry_state: str = "MaximumAttemptsReached"


class ActivityTaskTimedOut(Frozen):
    type: Literal["ActivityTaskTimedOut"] = "ActivityTaskTimedOut"
    failure: Failure
    scheduled_event_id: int
    started_event_id: int
    retry_state: str = "Timeout"


class ActivityTaskCancelRequested(Frozen):
    type: Literal["ActivityTaskCancelRequested"] = "ActivityTaskCancelRequested"
    scheduled_event_id: int
    workflow_task_completed_event_id: int


class ActivityTaskCanceled(Frozen):
    type: Literal["ActivityTaskCanceled"] = "ActivityTaskCanceled"
    details: tuple[Payload, ...] = ()
    scheduled_event_id: int
    started_event_id: int = 0


class TimerStarted(Frozen):
    type: Literal["TimerStarted"] = "TimerStarted"
    timer_id: str
    start_to_fire_timeout: timedelta
    workflow_task_completed_event_id: int
    summary: str | None = None  # user metadata from the command (temporalio's `summary=`)


class TimerFired(Frozen):
    type: Literal["TimerFired"] = "TimerFired"
    timer_id: str
    started_event_id: int


class TimerCanceled(Frozen):
    type: Literal["TimerCanceled"] = "TimerCanceled"
    timer_id: str
    started_event_id: int
    workflow_task_completed_event_id: int


class MarkerRecorded(Frozen):
    type: Literal["MarkerRecorded"] = "MarkerRecorded"
    marker_name: str
    details: dict[str, tuple[Payload, ...]] = Field(default_factory=dict)
    workflow_task_completed_event_id: int
    failure: Failure | None = None
    summary: str | None = None  # user metadata from the command


class UpsertWorkflowSearchAttributes(Frozen):
    type: Literal["UpsertWorkflowSearchAttributes"] = "UpsertWorkflowSearchAttributes"
    search_attributes: dict[str, Any]
    workflow_task_completed_event_id: int


class WorkflowPropertiesModified(Frozen):
    """`workflow.upsert_memo`: the run's memo with these keys replaced (a `binary/null` payload
    removes one), as Temporal's event."""

    type: Literal["WorkflowPropertiesModified"] = "WorkflowPropertiesModified"
    upserted_memo: dict[str, Payload]
    workflow_task_completed_event_id: int


class StartChildWorkflowExecutionInitiated(Frozen):
    type: Literal["StartChildWorkflowExecutionInitiated"] = "StartChildWorkflowExecutionInitiated"
    namespace: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    parent_close_policy: str = "Terminate"
    workflow_task_completed_event_id: int
    workflow_execution_timeout: timedelta | None = None
    workflow_run_timeout: timedelta | None = None
    workflow_task_timeout: timedelta | None = None
    id_reuse_policy: str = "AllowDuplicate"
    retry_policy: RetryPolicy | None = None
    memo: dict[str, Payload] = Field(default_factory=dict)
    search_attributes: dict[str, Any] = Field(default_factory=dict)
    static_summary: str | None = None
    static_details: str | None = None
    header: dict[str, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')
    cron_schedule: str | None = None


class ChildWorkflowExecutionStarted(Frozen):
    type: Literal["ChildWorkflowExecutionStarted"] = "ChildWorkflowExecutionStarted"
    workflow_id: str
    run_id: str
    workflow_type: str
    initiated_event_id: int


class ChildWorkflowExecutionCompleted(Frozen):
    type: Literal["ChildWorkflowExecutionCompleted"] = "ChildWorkflowExecutionCompleted"
    result: tuple[Payload, ...] = ()
    workflow_id: str
    run_id: str
    initiated_event_id: int
    started_event_id: int


class ChildWorkflowExecutionFailed(Frozen):
    type: Literal["ChildWorkflowExecutionFailed"] = "ChildWorkflowExecutionFailed"
    failure: Failure
    workflow_id: str
    run_id: str
    initiated_event_id: int
    started_event_id: int


class SignalExternalWorkflowExecutionInitiated(Frozen):
    type: Literal["SignalExternalWorkflowExecutionInitiated"] = "SignalExternalWorkflowExecutionInitiated"
    namespace: str
    workflow_id: str
    run_id: str | None = None
    signal_name: str
    input: tuple[Payload, ...] = ()
    header: dict[str, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')
    workflow_task_completed_event_id: int


class RequestCancelExternalWorkflowExecutionInitiated(Frozen):
    type: Literal["RequestCancelExternalWorkflowExecutionInitiated"] = (
        "RequestCancelExternalWorkflowExecutionInitiated"
    )
    namespace: str
    workflow_id: str
    run_id: str | None = None
    workflow_task_completed_event_id: int
    reason: str = ""  # what the target's cancel request records (`cancellation_reason()`)


class WorkflowExecutionUpdateAccepted(Frozen):
    type: Literal["WorkflowExecutionUpdateAccepted"] = "WorkflowExecutionUpdateAccepted"
    update_id: str
    name: str
    input: tuple[Payload, ...] = ()
    header: dict[str, Payload] = Field(default_factory=dict)  # Temporal's header (interceptors')


class WorkflowExecutionUpdateCompleted(Frozen):
    type: Literal["WorkflowExecutionUpdateCompleted"] = "WorkflowExecutionUpdateCompleted"
    update_id: str
    accepted_event_id: int
    result: tuple[Payload, ...] = ()
    failure: Failure | None = None


# --- child workflows and external workflows: outcomes (issue 3) -----------------------------


class StartChildWorkflowExecutionFailed(Frozen):
    type: Literal["StartChildWorkflowExecutionFailed"] = "StartChildWorkflowExecutionFailed"
    namespace: str
    workflow_id: str
    workflow_type: str
    cause: str = "WorkflowAlreadyStarted"
    initiated_event_id: int


class ChildWorkflowExecutionCanceled(Frozen):
    type: Literal["ChildWorkflowExecutionCanceled"] = "ChildWorkflowExecutionCanceled"
    details: tuple[Payload, ...] = ()
    workflow_id: str
    run_id: str
    initiated_event_id: int
    started_event_id: int


class ChildWorkflowExecutionTerminated(Frozen):
    type: Literal["ChildWorkflowExecutionTerminated"] = "ChildWorkflowExecutionTerminated"
    workflow_id: str
    run_id: str
    initiated_event_id: int
    started_event_id: int


class ChildWorkflowExecutionTimedOut(Frozen):
    type: Literal["ChildWorkflowExecutionTimedOut"] = "ChildWorkflowExecutionTimedOut"
    workflow_id: str
    run_id: str
    initiated_event_id: int
    started_event_id: int
    retry_state: str = "Timeout"


class ExternalWorkflowExecutionSignaled(Frozen):
    type: Literal["ExternalWorkflowExecutionSignaled"] = "ExternalWorkflowExecutionSignaled"
    initiated_event_id: int
    namespace: str
    workflow_id: str
    run_id: str | None = None


class SignalExternalWorkflowExecutionFailed(Frozen):
    type: Literal["SignalExternalWorkflowExecutionFailed"] = "SignalExternalWorkflowExecutionFailed"
    initiated_event_id: int
    namespace: str
    workflow_id: str
    run_id: str | None = None
    cause: str = "ExternalWorkflowExecutionNotFound"


class ExternalWorkflowExecutionCancelRequested(Frozen):
    type: Literal["ExternalWorkflowExecutionCancelRequested"] = "ExternalWorkflowExecutionCancelRequested"
    initiated_event_id: int
    namespace: str
    workflow_id: str
    run_id: str | None = None


class RequestCancelExternalWorkflowExecutionFailed(Frozen):
    type: Literal["RequestCancelExternalWorkflowExecutionFailed"] = (
        "RequestCancelExternalWorkflowExecutionFailed"
    )
    initiated_event_id: int
    namespace: str
    workflow_id: str
    run_id: str | None = None
    cause: str = "ExternalWorkflowExecutionNotFound"


EventAttributes = Annotated[
    WorkflowExecutionStarted
    | WorkflowExecutionCompleted
    | WorkflowExecutionFailed
    | WorkflowExecutionTimedOut
    | WorkflowExecutionCanceled
    | WorkflowExecutionTerminated
    | WorkflowExecutionContinuedAsNew
    | WorkflowExecutionSignaled
    | WorkflowExecutionCancelRequested
    | WorkflowTaskScheduled
    | WorkflowTaskStarted
    | WorkflowTaskCompleted
    | WorkflowTaskTimedOut
    | WorkflowTaskFailed
    | ActivityTaskScheduled
    | ActivityTaskStarted
    | ActivityTaskCompleted
    | ActivityTaskFailed
    | ActivityTaskTimedOut
    | ActivityTaskCancelRequested
    | ActivityTaskCanceled
    | TimerStarted
    | TimerFired
    | TimerCanceled
    | MarkerRecorded
    | UpsertWorkflowSearchAttributes
    | WorkflowPropertiesModified
    | StartChildWorkflowExecutionInitiated
    | ChildWorkflowExecutionStarted
    | ChildWorkflowExecutionCompleted
    | ChildWorkflowExecutionFailed
    | SignalExternalWorkflowExecutionInitiated
    | RequestCancelExternalWorkflowExecutionInitiated
    | WorkflowExecutionUpdateAccepted
    | WorkflowExecutionUpdateCompleted
    | StartChildWorkflowExecutionFailed
    | ChildWorkflowExecutionCanceled
    | ChildWorkflowExecutionTerminated
    | ChildWorkflowExecutionTimedOut
    | ExternalWorkflowExecutionSignaled
    | SignalExternalWorkflowExecutionFailed
    | ExternalWorkflowExecutionCancelRequested
    | RequestCancelExternalWorkflowExecutionFailed,
    Field(discriminator="type"),
]

CLOSE_EVENT_TYPES = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionTimedOut",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    }
)


class HistoryEvent(Frozen):
    event_id: int = Field(ge=1)
    event_time: datetime
    attributes: EventAttributes

    @property
    def event_type(self) -> str:
        return self.attributes.type
