"""Exceptions to `Failure`s and back (`tidal.exceptions.error_to_failure` / `failure_to_error`;
`converter.DefaultFailureConverter` uses them). `Failure.kind` tells the receiving side which
class to rebuild, and `Failure.cause` chains become `__cause__` chains."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tidal_schema import Failure, Payload, TimeoutType
from tidal_schema.limits import store_safe_text

from .exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    ServerError,
    TerminatedError,
    TimeoutError,
)

if TYPE_CHECKING:
    from ._payload_converter import PayloadConverter

__all__ = ["error_to_failure", "failure_to_error"]

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
            category=int(exc.category),
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
            category=_category(failure.category),
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


def _category(value: int) -> ApplicationErrorCategory:
    try:
        return ApplicationErrorCategory(value)
    except ValueError:  # a category this SDK does not know (a newer peer): reading never fails
        return ApplicationErrorCategory.UNSPECIFIED
