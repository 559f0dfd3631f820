"""Value types shared by events, commands and messages."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Frozen(BaseModel):
    """Base of every schema model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Payload(Frozen):
    """One encoded value. `json/plain` carries the JSON value itself in `data`, which keeps
    histories readable in Postgres; other encodings (binary, encrypted) carry base64 text."""

    metadata: dict[str, str] = Field(default_factory=lambda: {"encoding": "json/plain"})
    data: Any = None


class RetryPolicy(Frozen):
    """Temporal's retry policy; `maximum_attempts=0` means unlimited."""

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: timedelta | None = None
    maximum_attempts: int = Field(default=0, ge=0)
    non_retryable_error_types: tuple[str, ...] = ()


class Failure(Frozen):
    """A failure as it crosses process boundaries (Temporal's Failure proto, flattened)."""

    message: str
    type: str = "Error"
    source: str = "PythonSDK"
    stack_trace: str = ""
    non_retryable: bool = False
    details: tuple[Payload, ...] = ()
    next_retry_delay: timedelta | None = None
    cause: Failure | None = None
    # Kind tells the SDK which exception class to rebuild: application, timeout, canceled,
    # terminated, activity, child_workflow, server.
    kind: str = "application"
    timeout_type: str | None = None


class WorkflowExecutionStatus(StrEnum):
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    TIMED_OUT = "TimedOut"


class TimeoutType(StrEnum):
    START_TO_CLOSE = "StartToClose"
    SCHEDULE_TO_START = "ScheduleToStart"
    SCHEDULE_TO_CLOSE = "ScheduleToClose"
    HEARTBEAT = "Heartbeat"


class WorkflowIdReusePolicy(StrEnum):
    ALLOW_DUPLICATE = "AllowDuplicate"
    ALLOW_DUPLICATE_FAILED_ONLY = "AllowDuplicateFailedOnly"
    REJECT_DUPLICATE = "RejectDuplicate"
    TERMINATE_IF_RUNNING = "TerminateIfRunning"


class WorkflowIdConflictPolicy(StrEnum):
    FAIL = "Fail"
    USE_EXISTING = "UseExisting"
    TERMINATE_EXISTING = "TerminateExisting"


class WorkflowExecution(Frozen):
    workflow_id: str
    run_id: str


def json_payloads(*values: Any) -> tuple[Payload, ...]:
    """Wrap plain JSON values (used by tests and non-Python clients' examples)."""
    return tuple(Payload(data=v) for v in values)
