"""Messages that cross process boundaries over the bus.

Every message has a `type` discriminator and a `schema_version`. Messages are grouped by the
queue family that receives them; each family is a discriminated union (`HistoryMessage`,
`MatchingMessage`, `TaskMessage`, `TimerMessage`, `NotifyMessage`, `Reply`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from ._child_messages import ChildWorkflowClosed as ChildWorkflowClosed
from ._child_messages import ChildWorkflowStarted as ChildWorkflowStarted
from ._child_messages import ExternalWorkflowResult as ExternalWorkflowResult
from ._child_messages import ParentRef as ParentRef
from ._child_messages import RequestCancelExternalWorkflowExecution as RequestCancelExternalWorkflowExecution
from ._child_messages import SignalExternalWorkflowExecution as SignalExternalWorkflowExecution
from ._child_messages import StartChildWorkflowExecution as StartChildWorkflowExecution
from ._child_messages import StartChildWorkflowFailed as StartChildWorkflowFailed
from ._message_base import _ExecutionRef, _Message
from ._query_messages import QueryErrorKind as QueryErrorKind
from ._query_messages import QueryWorkflowReply as QueryWorkflowReply
from ._query_messages import QueryWorkflowTask as QueryWorkflowTask
from ._rate_messages import MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND as MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND
from ._rate_messages import RATE_DECLARATION as RATE_DECLARATION
from ._rate_messages import RATE_DECLARATION_INTERVAL_SECONDS as RATE_DECLARATION_INTERVAL_SECONDS
from ._rate_messages import DeclareTaskQueueRate as DeclareTaskQueueRate
from ._rate_messages import check_activities_per_second as check_activities_per_second
from ._schedule_messages import MAX_BACKFILL_RANGES as MAX_BACKFILL_RANGES
from ._schedule_messages import BackfillSchedule as BackfillSchedule
from ._schedule_messages import CreateSchedule as CreateSchedule
from ._schedule_messages import DeleteSchedule as DeleteSchedule
from ._schedule_messages import PauseSchedule as PauseSchedule
from ._schedule_messages import ScheduleBackfillRange as ScheduleBackfillRange
from ._schedule_messages import ScheduledWorkflowClosed as ScheduledWorkflowClosed
from ._schedule_messages import ScheduledWorkflowStarted as ScheduledWorkflowStarted
from ._schedule_messages import ScheduleLink as ScheduleLink
from ._schedule_messages import TriggerSchedule as TriggerSchedule
from ._schedule_messages import UpdateSchedule as UpdateSchedule
from .commands import Command
from .common import (
    Failure,
    Frozen,
    Payload,
    Priority,
    RetryPolicy,
    WorkflowExecutionStatus,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from .events import HistoryEvent
from .limits import (
    Duration,
    Id,
    JsonValue,
    Name,
    NamespaceName,
    OptionalId,
    TaskQueueName,
    Text,
    Timestamp,
)

# --- to history (routed to the owning shard) ---------------------------------------------


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


class CompleteWorkflowTask(_ExecutionRef):
    """A worker finished a workflow task; `sticky_queue` is where the next one should go."""

    type: Literal["CompleteWorkflowTask"] = "CompleteWorkflowTask"
    scheduled_event_id: int
    attempt: int = 1
    commands: tuple[Command, ...] = ()
    identity: Text = ""
    sticky_queue: OptionalId | None = None
    # The last event of the task the worker ran (0: its WorkflowTaskScheduled). Events history
    # wrote after that one before the task started must have reached the workflow code, or the
    # task is sent again with them (docs/architecture.md).
    seen_event_id: int = Field(default=0, ge=0)
    # The task's history size and continue-as-new suggestion as the workflow saw them (echoed
    # from the WorkflowTask), recorded on its WorkflowTaskStarted for replays.
    history_size_bytes: int = Field(default=0, ge=0)
    suggest_continue_as_new: bool = False
    # `workflow.set_current_details`: the workflow's current details after this task ("" none;
    # None from a worker that does not send them, which leaves the run's as they are).
    current_details: Text | None = None
    # When the worker took the task (the task's `workflow.now()`), recorded on WorkflowTaskStarted.
    started_time: Timestamp | None = None


class FailWorkflowTask(_ExecutionRef):
    type: Literal["FailWorkflowTask"] = "FailWorkflowTask"
    scheduled_event_id: int
    attempt: int = 1
    failure: Failure
    cause: Name = "WorkflowWorkerUnhandledFailure"
    identity: Text = ""


class CompleteActivityTask(_ExecutionRef):
    type: Literal["CompleteActivityTask"] = "CompleteActivityTask"
    scheduled_event_id: int
    attempt: int
    result: tuple[Payload, ...] = ()
    identity: Text = ""


class FailActivityTask(_ExecutionRef):
    type: Literal["FailActivityTask"] = "FailActivityTask"
    scheduled_event_id: int
    attempt: int
    failure: Failure
    identity: Text = ""
    # Details of a heartbeat the worker had not sent yet (throttled): kept for the next attempt.
    last_heartbeat_details: tuple[Payload, ...] | None = None


# --- activity model: heartbeats, start notices, cancellation (see docs/activities.md) -------


class RecordActivityTaskHeartbeat(_ExecutionRef):
    """Progress of the current attempt (throttled by the worker). History keeps `details` for the
    next attempt and re-arms nothing: the heartbeat timer checks the last heartbeat time when it
    fires. Published with the AMQP `reply_to` of the worker's activity control queue; history
    answers `ActivityHeartbeatReply` there (or to the frontend for async completion)."""

    type: Literal["RecordActivityTaskHeartbeat"] = "RecordActivityTaskHeartbeat"
    scheduled_event_id: int
    attempt: int
    details: tuple[Payload, ...] = ()
    identity: Text = ""


class RecordActivityTaskStarted(_ExecutionRef):
    """A worker picked the attempt up: at once for activities with a schedule-to-start timeout
    (it disarms that timer), else only once the attempt has run for a couple of seconds (describe
    then shows it Started; short attempts cost no message). It writes no event."""

    type: Literal["RecordActivityTaskStarted"] = "RecordActivityTaskStarted"
    scheduled_event_id: int
    attempt: int
    identity: Text = ""


class ReportActivityTaskCanceled(_ExecutionRef):
    """The attempt stopped because its cancellation was requested (Temporal's
    RespondActivityTaskCanceled)."""

    type: Literal["ReportActivityTaskCanceled"] = "ReportActivityTaskCanceled"
    scheduled_event_id: int
    attempt: int
    details: tuple[Payload, ...] = ()
    identity: Text = ""


# --- timers -------------------------------------------------------------------------------


class TimerKind(StrEnum):
    USER_TIMER = "user_timer"
    ACTIVITY_RETRY = "activity_retry"
    ACTIVITY_TIMEOUT = "activity_timeout"
    ACTIVITY_HEARTBEAT = "activity_heartbeat"
    ACTIVITY_SCHEDULE_TO_START = "activity_schedule_to_start"
    WORKFLOW_TASK_TIMEOUT = "workflow_task_timeout"
    WORKFLOW_TASK_RETRY = "workflow_task_retry"
    WORKFLOW_RUN_TIMEOUT = "workflow_run_timeout"
    # A closed run's retention: on fire, history deletes the run (or re-arms for a longer one).
    RETENTION = "retention"
    # A schedule's next action: `workflow_id` names the schedule, `run_id` its incarnation and
    # `timer_id` the nominal time (docs/schedules.md).
    SCHEDULE = "schedule"


class FireTimer(_ExecutionRef):
    """Published by the timer service when a durable timer is due. History discards stale ones."""

    type: Literal["FireTimer"] = "FireTimer"
    kind: TimerKind
    key: str
    # What the timer is about: a user timer id, or an activity / workflow task scheduled event id
    # together with the attempt it was set for (so a fire for an older attempt is stale).
    timer_id: OptionalId | None = None
    scheduled_event_id: int | None = None
    attempt: int | None = None


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


HistoryMessage = Annotated[
    StartWorkflowExecution
    | SignalWithStartWorkflowExecution
    | UpdateWithStartWorkflowExecution
    | CompleteWorkflowTask
    | FailWorkflowTask
    | CompleteActivityTask
    | FailActivityTask
    | RecordActivityTaskHeartbeat
    | RecordActivityTaskStarted
    | ReportActivityTaskCanceled
    | FireTimer
    | SignalWorkflowExecution
    | TerminateWorkflowExecution
    | RequestCancelWorkflowExecution
    | UpdateWorkflowExecution
    | StartChildWorkflowExecution
    | SignalExternalWorkflowExecution
    | RequestCancelExternalWorkflowExecution
    | ChildWorkflowStarted
    | StartChildWorkflowFailed
    | ChildWorkflowClosed
    | ExternalWorkflowResult
    | CreateSchedule
    | UpdateSchedule
    | PauseSchedule
    | TriggerSchedule
    | BackfillSchedule
    | DeleteSchedule
    | ScheduledWorkflowStarted
    | ScheduledWorkflowClosed,
    Field(discriminator="type"),
]


# --- tasks delivered to workers -----------------------------------------------------------


class WorkflowTask(_ExecutionRef):
    """A workflow task. `events` are the run's events from `first_event_id` up to and including the
    task's WorkflowTaskScheduled event and the inputs written after it before the task started
    (docs/architecture.md): the whole history when `first_event_id` is 1, otherwise
    what a sticky worker has not seen yet, or the newest part of a long history. A worker without
    events 1 .. first_event_id - 1 cached reads them from the frontend's history endpoint."""

    type: Literal["WorkflowTask"] = "WorkflowTask"
    workflow_type: str
    task_queue: str
    scheduled_event_id: int
    attempt: int = 1
    first_event_id: int = 1
    history_length: int
    events: tuple[HistoryEvent, ...]
    # Where the worker publishes its completion (the owning history shard).
    history_routing_key: str
    # Admitted updates the worker must accept or reject in this task.
    updates: tuple[UpdateRequest, ...] = ()
    # A task scheduled only to deliver updates: its WorkflowTaskScheduled (the last event) is not
    # in history yet, and history writes nothing at all if the task only rejects updates.
    speculative: bool = False
    # The run's priority: matching hands a task queue's backlog out by its key (docs/task-priority.md).
    priority: Priority | None = None
    # Bytes of the run's history when the task was sent, and whether its length or size passed
    # history's continue-as-new suggestion thresholds (Temporal's WorkflowTaskStarted fields).
    history_size_bytes: int = Field(default=0, ge=0)
    suggest_continue_as_new: bool = False
    # Set by the worker that takes the task, never by history: when it took it (not before the
    # task's WorkflowTaskScheduled), the task's `workflow.now()`.
    started_time: datetime | None = None


class ActivityTask(_ExecutionRef):
    type: Literal["ActivityTask"] = "ActivityTask"
    workflow_type: str
    activity_id: str
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    scheduled_event_id: int
    attempt: int = 1
    scheduled_time: datetime
    current_attempt_scheduled_time: datetime
    schedule_to_close_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    heartbeat_details: tuple[Payload, ...] = ()
    history_routing_key: str
    schedule_to_start_timeout: timedelta | None = None
    priority: Priority | None = None
    retry_policy: RetryPolicy | None = None
    # Temporal's header: what the workflow's outbound interceptors put on the activity.
    header: dict[str, Payload] = Field(default_factory=dict)


TaskMessage = Annotated[WorkflowTask | ActivityTask | QueryWorkflowTask, Field(discriminator="type")]


# --- to matching --------------------------------------------------------------------------


class AddWorkflowTask(_Message):
    type: Literal["AddWorkflowTask"] = "AddWorkflowTask"
    sticky_queue: str | None = None
    task: WorkflowTask


class AddActivityTask(_Message):
    type: Literal["AddActivityTask"] = "AddActivityTask"
    # An eager activity (ScheduleActivityTask.request_eager_execution): the sticky queue of the
    # worker that scheduled it, tried first; history publishes such a task there itself.
    worker_queue: str | None = None
    task: ActivityTask


class AddQueryTask(_Message):
    """Published by the frontend as a request (reply-to set); routed sticky first like a workflow
    task. Matching copies the message's reply-to and correlation id into the task."""

    type: Literal["AddQueryTask"] = "AddQueryTask"
    sticky_queue: str | None = None
    task: QueryWorkflowTask


MatchingMessage = Annotated[AddWorkflowTask | AddActivityTask | AddQueryTask, Field(discriminator="type")]


# --- to the timer service -----------------------------------------------------------------


class ScheduleTimer(_Message):
    type: Literal["ScheduleTimer"] = "ScheduleTimer"
    shard_id: int
    key: str
    fire_at: Timestamp
    fire: FireTimer


class CancelTimer(_Message):
    type: Literal["CancelTimer"] = "CancelTimer"
    shard_id: int
    key: str


class ScheduleTimers(_Message):
    """Several ScheduleTimers for one timer shard in one bus message: history sends the timers a
    batch commit sets for a shard together (docs/performance.md, "Hops and messages"). Each is
    applied as if it had come alone."""

    type: Literal["ScheduleTimers"] = "ScheduleTimers"
    timers: tuple[ScheduleTimer, ...] = Field(min_length=1)


TimerMessage = Annotated[ScheduleTimer | ScheduleTimers | CancelTimer, Field(discriminator="type")]


# --- notifications (fanout) and replies ---------------------------------------------------


class WorkflowClosed(_ExecutionRef):
    type: Literal["WorkflowClosed"] = "WorkflowClosed"
    status: WorkflowExecutionStatus
    # The run's outcome as the result endpoint answers it, so a frontend holding a long poll
    # answers without reading the run back. Left out (`has_outcome` false) when it would make the
    # notification larger than limits.NOTIFY_OUTCOME_MAX_BYTES: the frontend reads it instead.
    has_outcome: bool = False
    result: tuple[Payload, ...] | None = None
    failure: Failure | None = None
    # Continued-as-new, or failed and retried: the run to follow.
    new_run_id: str | None = None


NotifyMessage = Annotated[WorkflowClosed, Field(discriminator="type")]


class StartWorkflowReply(_Message):
    type: Literal["StartWorkflowReply"] = "StartWorkflowReply"
    run_id: str
    started: bool = True
    # The new run's first workflow task, granted to a start that asked for it
    # (`request_eager_execution`): it already counts as started, and its timeout hands it out
    # again through matching if the requesting worker never completes it.
    eager_workflow_task: WorkflowTask | None = None


class AckReply(_Message):
    type: Literal["AckReply"] = "AckReply"
    run_id: str | None = None


class ErrorCode(StrEnum):
    ALREADY_STARTED = "already_started"
    NOT_FOUND = "not_found"
    INVALID_ARGUMENT = "invalid_argument"
    # A conditional change whose condition no longer holds (a schedule update's conflict token).
    CONFLICT = "conflict"
    # A bound of the run's reached (Temporal's ResourceExhausted): try again later.
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ErrorReply(_Message):
    type: Literal["ErrorReply"] = "ErrorReply"
    code: ErrorCode
    message: str
    run_id: str | None = None


class ActivityHeartbeatReply(_Message):
    """History's answer to a heartbeat: stop if the workflow asked to cancel the activity, or if
    the attempt is no longer current (timed out, completed, run closed: `activity_gone`)."""

    type: Literal["ActivityHeartbeatReply"] = "ActivityHeartbeatReply"
    cancel_requested: bool = False
    activity_gone: bool = False


Reply = Annotated[
    StartWorkflowReply | AckReply | ErrorReply | ActivityHeartbeatReply, Field(discriminator="type")
]

HISTORY_MESSAGE: TypeAdapter[HistoryMessage] = TypeAdapter(HistoryMessage)
MATCHING_MESSAGE: TypeAdapter[MatchingMessage] = TypeAdapter(MatchingMessage)
TASK_MESSAGE: TypeAdapter[TaskMessage] = TypeAdapter(TaskMessage)
TIMER_MESSAGE: TypeAdapter[TimerMessage] = TypeAdapter(TimerMessage)
NOTIFY_MESSAGE: TypeAdapter[NotifyMessage] = TypeAdapter(NotifyMessage)
REPLY: TypeAdapter[Reply] = TypeAdapter(Reply)
QUERY_REPLY: TypeAdapter[QueryWorkflowReply] = TypeAdapter(QueryWorkflowReply)
