"""Data conversion between Python values and `Payload`s (mirrors temporalio.converter).

The default encoding is `json/plain`: the payload's `data` *is* the JSON value, so histories stay
readable in Postgres and non-Python clients can read and write them (None is `binary/null` and
bytes `binary/plain`, as in temporalio). The parts live in private modules: payload converters
(`_payload_converter`), failure converters (`_failure_converter`), codecs (`_payload_codec`),
serialization contexts and transfer types; `DataConverter` puts them together.
"""

from __future__ import annotations

from typing import Any

from ._data_converter import DataConverter, default
from ._failure_converter import (
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    FailureConverter,
)
from ._payload_codec import PayloadCodec
from ._payload_converter import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    CompositePayloadConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    JSONTypeConverterUnhandled,
    PayloadConversionError,
    PayloadConverter,
    value_to_type,
)
from ._search_attribute_codec import (
    decode_search_attributes,
    decode_typed_search_attributes,
    encode_search_attribute_values,
    encode_search_attributes,
    encode_typed_search_attribute_value,
)
from ._serialization_context import (
    ActivitySerializationContext,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from ._transfer_types import TransferTypeConverter, transfer_type_convertible
from .exceptions import ApplicationError

__all__ = [
    "ActivitySerializationContext",
    "AdvancedJSONEncoder",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "CompositePayloadConverter",
    "DataConverter",
    "DefaultFailureConverter",
    "DefaultFailureConverterWithEncodedAttributes",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "FailureConverter",
    "JSONPlainPayloadConverter",
    "JSONTypeConverter",
    "JSONTypeConverterUnhandled",
    "PayloadCodec",
    "PayloadConversionError",
    "PayloadConverter",
    "SerializationContext",
    "TransferTypeConverter",
    "WithSerializationContext",
    "WorkflowSerializationContext",
    "create_payload_validation_error",
    "decode_search_attributes",
    "decode_typed_search_attributes",
    "default",
    "encode_search_attribute_values",
    "encode_search_attributes",
    "encode_typed_search_attribute_value",
    "transfer_type_convertible",
    "value_to_type",
]


def create_payload_validation_error(details: Any) -> ApplicationError:
    """A non-retryable `ApplicationError` of type `PayloadValidationError` saying a converted
    payload failed validation (for converters that validate what they decode), with `details`
    when not None."""
    extra = () if details is None else (details,)
    return ApplicationError(
        "Payload validation failed", *extra, type="PayloadValidationError", non_retryable=True
    )
