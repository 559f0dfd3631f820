"""Exceptions (mirrors temporalio.exceptions) and their conversion to and from `Failure`.

A `FailureError` is an error that crosses process boundaries: raising one from workflow code fails
the *workflow*; any other exception fails only the workflow *task* (the server retries it, so a bug
fix plus a worker restart can resume the run). `Failure.kind` tells the receiving side which class
to rebuild, and `Failure.cause` chains become `__cause__` chains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Any

from tidal_schema import Failure, TimeoutType

__all__ = [
    "ActivityError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "CancelledError",
    "ChildWorkflowError",
    "FailureError",
    "NondeterminismError",
    "RPCError",
    "RetryState",
    "ServerError",
    "TemporalError",
    "TerminatedError",
    "TidalError",
    "TimeoutError",
    "TimeoutType",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "error_to_failure",
    "failure_to_error",
    "is_cancelled_exception",
]


class RetryState(StrEnum):
    """Why retrying an activity or child workflow stopped (temporalio's `RetryState`, same member
    names). The values are the strings history records, so comparing with those still works."""

    IN_PROGRESS = "InProgress"
    NON_RETRYABLE_FAILURE = "NonRetryableFailure"
    TIMEOUT = "Timeout"
    MAXIMUM_ATTEMPTS_REACHED = "MaximumAttemptsReached"
    RETRY_POLICY_NOT_SET = "RetryPolicyNotSet"
    INTERNAL_SERVER_ERROR = "InternalServerError"
    CANCEL_REQUESTED = "CancelRequested"


def _retry_state(value: RetryState | str | None) -> RetryState | None:
    """A recorded retry state as the enum; one this SDK does not know (a newer server) is None
    rather than an error, so reading a failure never fails."""
    if value is None or isinstance(value, RetryState):
        return value
    try:
        return RetryState(value)
    except ValueError:
        return None


class TidalError(Exception):
    """Root of every Tidal error (also importable as `TemporalError`, temporalio's name)."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def cause(self) -> BaseException | None:
        """The error that caused this one (`__cause__`), as temporalio's `TemporalError.cause`."""
        return self.__cause__


# temporalio's root, under its name, so `except TemporalError` ports unchanged.
TemporalError = TidalError


class FailureError(TidalError):
    """An error that is represented by (and converts to) a `Failure`. `exc_args`: the exception's
    `args` when they should differ from `(message,)`, as in temporalio."""

    def __init__(
        self, message: str, *, failure: Failure | None = None, exc_args: tuple[Any, ...] | None = None
    ) -> None:
        super().__init__(*(exc_args if exc_args is not None else (message,)))
        self._message = message
        self._failure: Failure | None = failure

    @property
    def message(self) -> str:
        return self._message

    @property
    def failure(self) -> Failure | None:
        """The failure this error was built from, when it came from another process."""
        return self._failure


class ApplicationErrorCategory(IntEnum):
    """How an application error is reported (temporalio's numbering): a BENIGN one is an
    expected outcome, logged at DEBUG and counted as `benign`, not `failed`, in the worker's
    activity metrics."""

    UNSPECIFIED = 0
    BENIGN = 1


class ApplicationError(FailureError):
    """A user error. `non_retryable=True` (or a type listed in the retry policy's
    `non_retryable_error_types`) stops activity retries."""

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        next_retry_delay: timedelta | None = None,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details
        self.type = type
        self.non_retryable = non_retryable
        self.next_retry_delay = next_retry_delay
        self.category = category


class CancelledError(FailureError):
    def __init__(self, message: str = "Cancelled", *details: Any) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details


class TerminatedError(FailureError):
    def __init__(self, message: str = "Terminated", *details: Any) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details


class TimeoutError(FailureError):  # shadows the builtin, as temporalio.exceptions.TimeoutError does
    def __init__(
        self,
        message: str = "Timed out",
        *,
        type: TimeoutType | None = None,
        last_heartbeat_details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.type = type
        self.last_heartbeat_details = last_heartbeat_details


class ServerError(FailureError):
    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        super().__init__(message)
        self.non_retryable = non_retryable


class ActivityError(FailureError):
    """An activity failed; the reason (ApplicationError, TimeoutError, ...) is in `__cause__`."""

    def __init__(
        self,
        message: str = "Activity task failed",
        *,
        scheduled_event_id: int = 0,
        started_event_id: int = 0,
        identity: str = "",
        activity_type: str = "",
        activity_id: str = "",
        retry_state: RetryState | str | None = None,
    ) -> None:
        super().__init__(message)
        self.scheduled_event_id = scheduled_event_id
        self.started_event_id = started_event_id
        self.identity = identity
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.retry_state = _retry_state(retry_state)


class ChildWorkflowError(FailureError):
    """A child workflow failed; the reason is in `__cause__`."""

    def __init__(
        self,
        message: str = "Child workflow execution failed",
        *,
        namespace: str = "",
        workflow_id: str = "",
        run_id: str = "",
        workflow_type: str = "",
        initiated_event_id: int = 0,
        started_event_id: int = 0,
        retry_state: RetryState | str | None = None,
    ) -> None:
        super().__init__(message)
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type
        self.initiated_event_id = initiated_event_id
        self.started_event_id = started_event_id
        self.retry_state = _retry_state(retry_state)


class WorkflowAlreadyStartedError(FailureError):
    """A start refused because the workflow id is in use (or, per its reuse policy, was used).
    From the client, `run_id` is the run in the way and `first_run_id` the first run of its
    chain (continue-as-new and retries keep it); a child start in a workflow has neither."""

    def __init__(
        self,
        workflow_id: str,
        workflow_type: str,
        *,
        run_id: str | None = None,
        first_run_id: str | None = None,
    ) -> None:
        super().__init__("Workflow execution already started")
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id
        self.first_run_id = first_run_id


class WorkflowFailureError(TidalError):
    """Client side: the workflow failed. The reason (a FailureError) is in `__cause__`."""

    def __init__(self, *, cause: BaseException) -> None:
        super().__init__("Workflow execution failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        assert self.__cause__ is not None
        return self.__cause__


class NondeterminismError(TidalError):
    """Replaying the history produced different commands than the code does now."""


class RPCError(TidalError):
    """A client/server call failed. `status` is the server's error code (`not_found`,
    `already_started`, `invalid_argument`, `unavailable`, `internal`); `code` the HTTP status.
    `raw_grpc_status` is temporalio's serialized gRPC status: Tidal's client speaks HTTP, so it
    is accepted (code that builds an `RPCError` as temporalio's ports) and always None here;
    `problem` holds the server's whole answer instead."""

    def __init__(
        self,
        message: str,
        status: str = "internal",
        raw_grpc_status: bytes | None = None,
        *,
        code: int | None = None,
        run_id: str | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.raw_grpc_status = raw_grpc_status
        self.code = code
        # For `already_started`: the running run. `problem` is the server's whole answer (its
        # RFC 7807 body: title, detail, code and any extra fields).
        self.run_id = run_id
        self.problem: dict[str, Any] = problem or {}


def is_cancelled_exception(exception: BaseException) -> bool:
    """The exception means "cancelled" (as temporalio's helper of the same name): an
    `asyncio.CancelledError`, a `CancelledError`, or an activity or child workflow error caused
    by one. Typical in an `except` clause of workflow code."""
    return isinstance(exception, asyncio.CancelledError | CancelledError) or (
        isinstance(exception, ActivityError | ChildWorkflowError)
        and isinstance(exception.cause, CancelledError)
    )


# The conversion functions need the classes above: imported last (they import this module).
from ._failure_conversion import error_to_failure, failure_to_error  # noqa: E402
