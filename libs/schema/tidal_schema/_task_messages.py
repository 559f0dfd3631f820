"""Tasks: history -> matching (AddWorkflowTask, AddActivityTask; the frontend's AddQueryTask) and
matching -> workers (WorkflowTask, ActivityTask). Part of `tidal_schema.messages` (re-exported
there)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef, _Message
from ._query_messages import QueryWorkflowTask
from ._request_messages import UpdateRequest
from .common import (
    Payload,
    Priority,
    RetryPolicy,
)
from .events import HistoryEvent

__all__ = ["ActivityTask", "AddActivityTask", "AddQueryTask", "AddWorkflowTask", "WorkflowTask"]


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
    # Set by history only on an eager attempt handed out by a workflow task completion: the run's
    # next event id right after that transaction (0: not known). A worker that holds the run may
    # then fuse its result with the next workflow task (CompleteActivityTask.workflow_task).
    next_event_id: int = Field(default=0, ge=0)


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
