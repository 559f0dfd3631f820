"""Data conversion between Python values and `Payload`s (mirrors temporalio.converter).

The default encoding is `json/plain`: the payload's `data` *is* the JSON value, so histories stay
readable in Postgres and non-Python clients can read and write them. Typed decoding goes through a
pydantic `TypeAdapter` per type hint (cached: building one is far more expensive than using it), so
dataclasses, pydantic models, datetimes, enums and containers of them round-trip.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import pydantic_core
from pydantic import TypeAdapter
from tidal_schema import Payload

JSON_PLAIN = "json/plain"


class PayloadConversionError(ValueError):
    """A payload could not be encoded or decoded."""


class DataConverter:
    """Converts values to and from payloads. `DataConverter.default` is the JSON converter."""

    default: ClassVar[DataConverter]

    def __init__(self) -> None:
        self._adapters: dict[Any, TypeAdapter[Any]] = {}

    # --- encoding ---------------------------------------------------------------------------

    def to_payload(self, value: Any) -> Payload:
        try:
            # to_jsonable_python handles dataclasses, pydantic models, datetimes, enums, UUIDs,
            # sets and nested containers of them without needing the static type.
            data = pydantic_core.to_jsonable_python(value)
        except pydantic_core.PydanticSerializationError as exc:
            raise PayloadConversionError(f"cannot encode {type(value).__name__} as JSON: {exc}") from exc
        return Payload(metadata={"encoding": JSON_PLAIN}, data=data)

    def to_payloads(self, values: Sequence[Any]) -> tuple[Payload, ...]:
        return tuple(self.to_payload(v) for v in values)

    # --- decoding ---------------------------------------------------------------------------

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        encoding = payload.metadata.get("encoding", JSON_PLAIN)
        if encoding != JSON_PLAIN:
            raise PayloadConversionError(f"unsupported payload encoding {encoding!r}")
        if type_hint is None or type_hint is Any or type_hint is inspect.Parameter.empty:
            return payload.data
        try:
            return self._adapter(type_hint).validate_python(payload.data)
        except pydantic_core.ValidationError as exc:
            raise PayloadConversionError(f"cannot decode payload as {type_hint!r}: {exc}") from exc

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None
    ) -> list[Any]:
        hints = list(type_hints or ())
        return [self.from_payload(p, hints[i] if i < len(hints) else None) for i, p in enumerate(payloads)]

    def _adapter(self, type_hint: Any) -> TypeAdapter[Any]:
        try:
            adapter = self._adapters.get(type_hint)
        except TypeError:  # unhashable hint: build an adapter each time rather than fail
            return TypeAdapter(type_hint)
        if adapter is None:
            adapter = self._adapters[type_hint] = TypeAdapter(type_hint)
        return adapter


DataConverter.default = DataConverter()
