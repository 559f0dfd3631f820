"""Value types shared by events, commands and messages."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .limits import Duration, Id, JsonValue, Name, SafeText, Text

SCHEMA_VERSION = 1


class Frozen(BaseModel):
    """Base of every schema model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Payload(Frozen):
    """One encoded value. `json/plain` carries the JSON value itself in `data`, which keeps
    histories readable in Postgres; other encodings (binary, encrypted) carry base64 text."""

    metadata: dict[Name, Text] = Field(default_factory=lambda: {"encoding": "json/plain"})
    # Checked without recursion: depth, strings the store can keep, size (limits.py).
    data: JsonValue = None


class RetryPolicy(Frozen):
    """Temporal's retry policy; `maximum_attempts=0` means unlimited. Validated as Temporal
    does: intervals positive (and at most 100 years), `maximum_interval >= initial_interval`,
    `backoff_coefficient >= 1`, `maximum_attempts >= 0`."""

    initial_interval: Duration = Field(default=timedelta(seconds=1), gt=timedelta(0))
    backoff_coefficient: float = Field(default=2.0, ge=1.0, le=1e6, allow_inf_nan=False)
    maximum_interval: Duration | None = Field(default=None, gt=timedelta(0))
    maximum_attempts: int = Field(default=0, ge=0, le=2**31 - 1)
    non_retryable_error_types: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _maximum_not_below_initial(self) -> RetryPolicy:
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval cannot be less than initial_interval")
        return self


class Priority(Frozen):
    """Temporal's task priority: `priority_key` 1 (first) to 5 (last), default 3; a fairness key
    and weight. Recorded with the run, its activities and children (which inherit the fields they
    do not set); matching hands a task queue's backlog out by `priority_key`, the fairness fields
    are not used (docs/task-priority.md)."""

    priority_key: int | None = Field(default=None, ge=1, le=5)
    fairness_key: Name | None = Field(default=None, max_length=64)
    fairness_weight: float | None = Field(default=None, ge=0.001, le=1000, allow_inf_nan=False)

    def inherit(self, parent: Priority | None) -> Priority:
        """These fields, with the unset ones taken from `parent`."""
        if parent is None:
            return self
        return Priority(
            priority_key=self.priority_key or parent.priority_key,
            fairness_key=self.fairness_key or parent.fairness_key,
            fairness_weight=self.fairness_weight or parent.fairness_weight,
        )


class Failure(Frozen):
    """A failure as it crosses process boundaries (Temporal's Failure proto, flattened)."""

    message: SafeText
    type: SafeText = "Error"
    source: SafeText = "PythonSDK"
    stack_trace: SafeText = ""
    non_retryable: bool = False
    details: tuple[Payload, ...] = ()
    next_retry_delay: Duration | None = None
    cause: Failure | None = None
    # Kind tells the SDK which exception class to rebuild: application, timeout, canceled,
    # terminated, activity, child_workflow, server.
    kind: Name = "application"
    timeout_type: Name | None = None
    # Temporal's `encoded_attributes`: with the SDK's DefaultFailureConverterWithEncodedAttributes
    # the message and stack trace travel here ({"message", "stack_trace"}), so a payload codec
    # encrypts them too, and `message` is only "Encoded failure".
    encoded_attributes: Payload | None = None
    # Temporal's ApplicationErrorCategory (0 unspecified, 1 benign: an expected outcome).
    category: int = Field(default=0, ge=0, le=2**31 - 1)


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
    workflow_id: Id
    run_id: Id


def json_payloads(*values: Any) -> tuple[Payload, ...]:
    """Wrap plain JSON values (used by tests and non-Python clients' examples)."""
    return tuple(Payload(data=v) for v in values)
