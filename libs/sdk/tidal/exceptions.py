"""Exceptions (mirrors temporalio.exceptions) and their conversion to and from `Failure`.

A `FailureError` is an error that crosses process boundaries: raising one from workflow code fails
the *workflow*; any other exception fails only the workflow *task* (the server retries it, so a bug
fix plus a worker restart can resume the run). `Failure.kind` tells the receiving side which class
to rebuild, and `Failure.cause` chains become `__cause__` chains.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tidal_schema import Failure, Payload, TimeoutType
from tidal_schema.limits import store_safe_text

if TYPE_CHECKING:
    from ._payload_converter import PayloadConverter

__all__ = [
    "ActivityError",
    "ApplicationError",
    "CancelledError",
    "ChildWorkflowError",
    "FailureError",
    "NondeterminismError",
    "RPCError",
    "RetryState",
    "ServerError",
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
    """Root of every Tidal error."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def cause(self) -> BaseException | None:
        """The error that caused this one (`__cause__`), as temporalio's `TemporalError.cause`."""
        return self.__cause__


class FailureError(TidalError):
    """An error that is represented by (and converts to) a `Failure`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._failure: Failure | None = None

    @property
    def failure(self) -> Failure | None:
        """The failure this error was built from, when it came from another process."""
        return self._failure


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
    ) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details
        self.type = type
        self.non_retryable = non_retryable
        self.next_retry_delay = next_retry_delay


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
    def __init__(self, workflow_id: str, workflow_type: str, *, run_id: str | None = None) -> None:
        super().__init__("Workflow execution already started")
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id


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
    `already_started`, `invalid_argument`, `unavailable`, `internal`); `code` the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: str = "internal",
        code: int | None = None,
        run_id: str | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
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


# --- conversion -------------------------------------------------------------------------------

_ACTIVITY_FIELDS = ("scheduled_event_id", "started_event_id", "identity", "activity_type", "activity_id")
_CHILD_FIELDS = (
    "namespace",
    "workflow_id",
    "run_id",
    "workflow_type",
    "initiated_event_id",
    "started_event_id",
)


def _payloads(values: Sequence[Any], payload_converter: PayloadConverter | None) -> tuple[Payload, ...]:
    if payload_converter is None:
        from ._payload_converter import PayloadConverter  # local: the converter imports this module

        payload_converter = PayloadConverter.default
    return tuple(payload_converter.to_payloads(values))


def _values(payloads: Sequence[Payload], payload_converter: PayloadConverter | None) -> list[Any]:
    from ._payload_converter import PayloadConversionError, PayloadConverter

    conv = payload_converter or PayloadConverter.default
    out = []
    for p in payloads:
        try:
            out.append(conv.from_payload(p))
        except PayloadConversionError:
            out.append(p.data)  # reading a failure never fails: the raw value (e.g. still encrypted)
    return out


def error_to_failure(exc: BaseException, payload_converter: PayloadConverter | None = None) -> Failure:
    """Convert an exception (and its `__cause__` chain) to a `Failure`, stack trace included;
    details go through `payload_converter` (the default one when None)."""
    stack = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
    if isinstance(exc, FailureError) and exc.failure is not None and not stack:
        stack = exc.failure.stack_trace
    pc = payload_converter
    cause = error_to_failure(exc.__cause__, pc) if exc.__cause__ is not None else None
    message = str(exc.args[0]) if exc.args else str(exc)
    # Text the program produced is recorded, not refused: NUL and lone surrogates become U+FFFD.
    common: dict[str, Any] = {"message": store_safe_text(message), "stack_trace": store_safe_text(stack)}
    if cause is not None:
        common["cause"] = cause
    if isinstance(exc, ApplicationError):
        return Failure(
            type=store_safe_text(exc.type or ""),
            non_retryable=exc.non_retryable,
            next_retry_delay=exc.next_retry_delay,
            details=_payloads(exc.details, pc),
            kind="application",
            **common,
        )
    if isinstance(exc, TimeoutError):
        return Failure(
            type="TimeoutError",
            kind="timeout",
            timeout_type=str(exc.type) if exc.type else None,
            details=_payloads(exc.last_heartbeat_details, pc),
            **common,
        )
    if isinstance(exc, CancelledError):
        return Failure(type="CancelledError", kind="canceled", details=_payloads(exc.details, pc), **common)
    if isinstance(exc, TerminatedError):
        return Failure(
            type="TerminatedError", kind="terminated", details=_payloads(exc.details, pc), **common
        )
    if isinstance(exc, ServerError):
        return Failure(type="ServerError", kind="server", non_retryable=exc.non_retryable, **common)
    if isinstance(exc, ActivityError):
        # Failure has no activity fields; they travel as one JSON detail so they survive the trip.
        info = {f: getattr(exc, f) for f in _ACTIVITY_FIELDS} | {"retry_state": exc.retry_state}
        return Failure(type="ActivityError", kind="activity", details=_payloads([info], pc), **common)
    if isinstance(exc, ChildWorkflowError):
        info = {f: getattr(exc, f) for f in _CHILD_FIELDS} | {"retry_state": exc.retry_state}
        return Failure(
            type="ChildWorkflowError", kind="child_workflow", details=_payloads([info], pc), **common
        )
    # Any other exception becomes an application failure typed by its class name (as Temporal does).
    common["message"] = store_safe_text(str(exc))
    return Failure(type=type(exc).__name__, kind="application", **common)


def failure_to_error(failure: Failure, payload_converter: PayloadConverter | None = None) -> FailureError:
    """Rebuild the exception a `Failure` describes, with its cause chain as `__cause__`; details
    go through `payload_converter`. Message and stack trace carried in `encoded_attributes`
    (DefaultFailureConverterWithEncodedAttributes) are restored once a codec decoded them."""
    failure = _with_decoded_attributes(failure, payload_converter)
    pc = payload_converter
    err: FailureError
    kind = failure.kind
    if kind == "timeout":
        tt = TimeoutType(failure.timeout_type) if failure.timeout_type else None
        err = TimeoutError(failure.message, type=tt, last_heartbeat_details=_values(failure.details, pc))
    elif kind == "canceled":
        err = CancelledError(failure.message, *_values(failure.details, pc))
    elif kind == "terminated":
        err = TerminatedError(failure.message, *_values(failure.details, pc))
    elif kind == "server":
        err = ServerError(failure.message, non_retryable=failure.non_retryable)
    elif kind == "activity":
        info = _detail_dict(failure)
        err = ActivityError(
            failure.message,
            retry_state=info.get("retry_state"),
            **{f: info[f] for f in _ACTIVITY_FIELDS if f in info},
        )
    elif kind == "child_workflow":
        info = _detail_dict(failure)
        err = ChildWorkflowError(
            failure.message,
            retry_state=info.get("retry_state"),
            **{f: info[f] for f in _CHILD_FIELDS if f in info},
        )
    else:
        err = ApplicationError(
            failure.message,
            *_values(failure.details, pc),
            type=failure.type or None,
            non_retryable=failure.non_retryable,
            next_retry_delay=failure.next_retry_delay,
        )
    err._failure = failure
    if failure.cause is not None:
        err.__cause__ = failure_to_error(failure.cause, pc)
    return err


def _with_decoded_attributes(failure: Failure, payload_converter: PayloadConverter | None) -> Failure:
    attrs = failure.encoded_attributes
    if attrs is None:
        return failure
    [value] = _values([attrs], payload_converter)
    if not isinstance(value, dict):
        return failure  # still encoded (no codec here): keep "Encoded failure"
    return failure.model_copy(
        update={
            "message": str(value.get("message", failure.message)),
            "stack_trace": str(value.get("stack_trace", failure.stack_trace)),
        }
    )


def _detail_dict(failure: Failure) -> dict[str, Any]:
    if failure.details and isinstance(failure.details[0].data, dict):
        return dict(failure.details[0].data)
    return {}
