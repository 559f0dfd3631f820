"""Failure converters (temporalio.converter's `FailureConverter` family; re-exported by
`tidal.converter`): exceptions to `Failure`s and back.

Tidal's schema objects are immutable, so `to_failure` returns the `Failure` instead of filling
the one passed (which it ignores). With `encode_common_attributes`, the message and stack trace
move into `Failure.encoded_attributes` (a payload, so a codec encrypts it) and the message says
only "Encoded failure", as in temporalio.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from tidal_schema import Failure

from ._payload_converter import PayloadConverter
from .exceptions import error_to_failure, failure_to_error

__all__ = [
    "DefaultFailureConverter",
    "DefaultFailureConverterWithEncodedAttributes",
    "FailureConverter",
]

ENCODED_FAILURE_MESSAGE = "Encoded failure"


class FailureConverter(ABC):
    """Converts exceptions to failures and back."""

    default: ClassVar[FailureConverter]
    # Whether `_outbound` changes anything (the SDK skips walking messages when it does not).
    _transforms_outbound: bool = False

    @abstractmethod
    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure | None = None
    ) -> Failure:
        """The failure for `exception` (`failure` is ignored: Tidal's failures are immutable)."""

    @abstractmethod
    def from_failure(self, failure: Failure, payload_converter: PayloadConverter) -> BaseException: ...

    def _outbound(self, failure: Failure, payload_converter: PayloadConverter) -> Failure:
        # What the SDK applies to every failure it sends, including those the workflow runtime
        # converted itself (by default: nothing).
        del payload_converter
        return failure


class DefaultFailureConverter(FailureConverter):
    """Tidal's exception tree (`tidal.exceptions`) to failures and back."""

    def __init__(self, *, encode_common_attributes: bool = False) -> None:
        self._encode_common_attributes = encode_common_attributes
        self._transforms_outbound = encode_common_attributes

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure | None = None
    ) -> Failure:
        del failure
        converted = error_to_failure(exception, payload_converter)
        return self._outbound(converted, payload_converter)

    def from_failure(self, failure: Failure, payload_converter: PayloadConverter) -> BaseException:
        return failure_to_error(failure, payload_converter)

    def _outbound(self, failure: Failure, payload_converter: PayloadConverter) -> Failure:
        if not self._encode_common_attributes:
            return failure
        cause = failure.cause
        encoded_cause = self._outbound(cause, payload_converter) if cause is not None else None
        if failure.encoded_attributes is not None:
            return failure if encoded_cause is cause else failure.model_copy(update={"cause": encoded_cause})
        attributes = payload_converter.to_payload(
            {"message": failure.message, "stack_trace": failure.stack_trace}
        )
        return failure.model_copy(
            update={
                "message": ENCODED_FAILURE_MESSAGE,
                "stack_trace": "",
                "encoded_attributes": attributes,
                "cause": encoded_cause,
            }
        )


class DefaultFailureConverterWithEncodedAttributes(DefaultFailureConverter):
    """The default converter with `encode_common_attributes=True`: use it with an encrypting
    codec so that error messages and stack traces are encrypted too."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


FailureConverter.default = DefaultFailureConverter()
