"""The notification of a closed run (fanout to every frontend) and the replies to requests
(frontend <- history). Part of `tidal_schema.messages` (re-exported there)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from ._message_base import _ExecutionRef, _Message
from ._task_messages import WorkflowTask
from .common import (
    Failure,
    Payload,
    WorkflowExecutionStatus,
)

__all__ = [
    "AckReply",
    "ActivityHeartbeatReply",
    "ErrorCode",
    "ErrorReply",
    "StartWorkflowReply",
    "WorkflowClosed",
]


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
