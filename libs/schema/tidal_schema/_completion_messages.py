"""What workers tell history about their tasks (routed to the owning shard): workflow and
activity task completions and failures, and the activity model's heartbeats, start notices and
cancellations (docs/activities.md). Part of `tidal_schema.messages` (re-exported there)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef
from .commands import Command
from .common import (
    Failure,
    Payload,
)
from .limits import (
    Name,
    OptionalId,
    Text,
    Timestamp,
)

__all__ = [
    "CompleteActivityTask",
    "CompleteWorkflowTask",
    "FailActivityTask",
    "FailWorkflowTask",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskStarted",
    "ReportActivityTaskCanceled",
]


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
    # The fused completion (docs/performance.md, "Hops and messages"): the worker that holds the
    # run ran the workflow task this result would schedule itself and sends its completion here.
    # Set only for an attempt whose ActivityTask carried `next_event_id` = s; the worker assumed
    # events s ActivityTaskStarted, s + 1 ActivityTaskCompleted, s + 2 WorkflowTaskScheduled (its
    # sticky queue, attempt 1), s + 3 WorkflowTaskStarted, so `workflow_task.scheduled_event_id`
    # is s + 2. History applies both in one transaction only if the run's next event id is still s
    # and nothing else is outstanding; otherwise it applies the result alone and ignores this.
    workflow_task: CompleteWorkflowTask | None = None


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
