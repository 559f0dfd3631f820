"""Payload converters (temporalio.converter's architecture; re-exported by `tidal.converter`).

A `CompositePayloadConverter` tries its `EncodingPayloadConverter`s in order to encode a value
and picks the one named by a payload's `encoding` to decode it. The default is `binary/null`
(None), `binary/plain` (bytes, base64 text in `data`) and `json/plain`, as in temporalio
without protobuf. Tidal's `json/plain` payload keeps the JSON value itself in `data` (histories
stay readable in Postgres), and decoding to a type hint goes through a pydantic `TypeAdapter`
(cached per hint), so dataclasses, pydantic models, datetimes, enums and containers round-trip.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import dataclasses
import inspect
import json
import types
import typing
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from itertools import zip_longest
from typing import Any, ClassVar, NewType, Self

import pydantic_core
from pydantic import BaseModel, TypeAdapter
from tidal_schema import Payload

from ._serialization_context import SerializationContext, WithSerializationContext
from .common import RawValue
from .exceptions import TidalError

__all__ = [
    "AdvancedJSONEncoder",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "CompositePayloadConverter",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "JSONPlainPayloadConverter",
    "JSONTypeConverter",
    "JSONTypeConverterUnhandled",
    "PayloadConversionError",
    "PayloadConverter",
    "value_to_type",
]

JSON_PLAIN = "json/plain"


class PayloadConversionError(TidalError, ValueError):
    """A payload could not be encoded or decoded (a ValueError too, as before)."""


class PayloadConverter(ABC):
    """Converts values to payloads and back."""

    default: ClassVar[PayloadConverter]

    @abstractmethod
    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """One payload per value (a `RawValue` is its payload)."""

    @abstractmethod
    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        """One value per payload; a `RawValue` hint gets the payload wrapped."""

    # Tidal has no `Payloads` wrapper message: the wrappers take and give a sequence.
    def to_payloads_wrapper(self, values: Sequence[Any]) -> list[Payload]:
        return self.to_payloads(values)

    def from_payloads_wrapper(self, payloads: Sequence[Payload] | None) -> list[Any]:
        return self.from_payloads(payloads) if payloads else []

    def to_payload(self, value: Any) -> Payload:
        return self.to_payloads([value])[0]

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return self.from_payloads([payload], [type_hint] if type_hint is not None else None)[0]


class EncodingPayloadConverter(ABC):
    """Converts the values it can to payloads of one encoding, and those payloads back."""

    @property
    @abstractmethod
    def encoding(self) -> str: ...

    @abstractmethod
    def to_payload(self, value: Any) -> Payload | None:
        """The payload, or None when this converter does not handle the value."""

    @abstractmethod
    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any: ...


class CompositePayloadConverter(PayloadConverter, WithSerializationContext):
    """Tries `converters` in order to encode; decodes with the one named by the encoding."""

    converters: Mapping[str, EncodingPayloadConverter]

    def __init__(self, *converters: EncodingPayloadConverter) -> None:
        self._set_converters(*converters)

    def _set_converters(self, *converters: EncodingPayloadConverter) -> None:
        self.converters = {c.encoding: c for c in converters}

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        out: list[Payload] = []
        for index, value in enumerate(values):
            payload: Payload | None = None
            if isinstance(value, RawValue):
                payload = value.payload
            else:
                for converter in self.converters.values():
                    payload = converter.to_payload(value)
                    if payload is not None:
                        break
            if payload is None:
                raise PayloadConversionError(
                    f"value at index {index} of type {type(value).__name__} has no known converter"
                )
            out.append(payload)
        return out

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        values: list[Any] = []
        for index, (payload, hint) in enumerate(zip_longest(payloads, type_hints or ())):
            if index >= len(payloads):
                break
            if hint is RawValue:
                values.append(RawValue(payload))
                continue
            encoding = str(payload.metadata.get("encoding", JSON_PLAIN))
            converter = self.converters.get(encoding)
            if converter is None:
                raise PayloadConversionError(f"unsupported payload encoding {encoding!r}")
            try:
                values.append(converter.from_payload(payload, hint))
            except PayloadConversionError:
                raise
            except Exception as exc:
                raise PayloadConversionError(
                    f"payload at index {index} with encoding {encoding!r} could not be converted: {exc}"
                ) from exc
        return values

    def with_context(self, context: SerializationContext) -> Self:
        """A copy whose context-aware encoding converters have the context (self if none has)."""
        converters = self.get_converters_with_context(context)
        if converters is None:
            return self
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._set_converters(*converters)
        return clone

    def get_converters_with_context(
        self, context: SerializationContext
    ) -> list[EncodingPayloadConverter] | None:
        """The encoding converters with `context` set, or None when none of them takes it."""
        converters = [
            c.with_context(context) if isinstance(c, WithSerializationContext) else c
            for c in self.converters.values()
        ]
        if all(a is b for a, b in zip(converters, self.converters.values(), strict=True)):
            return None
        return converters


class BinaryNullPayloadConverter(EncodingPayloadConverter):
    """`binary/null`: None."""

    @property
    def encoding(self) -> str:
        return "binary/null"

    def to_payload(self, value: Any) -> Payload | None:
        return Payload(metadata={"encoding": self.encoding}, data=None) if value is None else None

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        if payload.data not in (None, ""):
            raise PayloadConversionError("binary/null payload with data")
        return None


class BinaryPlainPayloadConverter(EncodingPayloadConverter):
    """`binary/plain`: bytes, as base64 text in `data` (a payload's data is JSON in Tidal)."""

    @property
    def encoding(self) -> str:
        return "binary/plain"

    def to_payload(self, value: Any) -> Payload | None:
        if not isinstance(value, bytes):
            return None
        return Payload(metadata={"encoding": self.encoding}, data=base64.b64encode(value).decode())

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        try:
            return base64.b64decode(str(payload.data or ""), validate=True)
        except binascii.Error as exc:
            raise PayloadConversionError(f"binary/plain payload is not base64: {exc}") from exc


class AdvancedJSONEncoder(json.JSONEncoder):
    """A `json.JSONEncoder` for what temporalio's handles: datetimes, dataclasses, pydantic
    models, UUIDs and any iterable (as a list). Tidal's default JSON conversion does all of this
    without it (pydantic's); pass it as `JSONPlainPayloadConverter(encoder=...)` for stdlib JSON."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime | date):
            return o.isoformat()
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, BaseModel):
            return o.model_dump(mode="json")
        if isinstance(o, uuid.UUID):
            return str(o)
        if not isinstance(o, list) and isinstance(o, collections.abc.Iterable):
            return list(o)
        return super().default(o)


JSONTypeConverterUnhandled = NewType("JSONTypeConverterUnhandled", object)


class JSONTypeConverter(ABC):
    """Turns a JSON value into a type the default conversion does not know (tried first, by
    `value_to_type`, at every level of a container or dataclass hint)."""

    Unhandled: ClassVar[JSONTypeConverterUnhandled] = JSONTypeConverterUnhandled(object())

    @abstractmethod
    def to_typed_value(self, hint: Any, value: Any) -> Any:
        """The converted value, or `JSONTypeConverter.Unhandled`."""


class JSONPlainPayloadConverter(EncodingPayloadConverter):
    """`json/plain`: any JSON-able value; the payload's `data` is the JSON value itself.

    `encoder` / `decoder`: stdlib JSON classes to use instead of pydantic's conversion (the
    value goes through `json.dumps(cls=encoder)` / `json.loads(cls=decoder)`); `encoding`: a
    different encoding name; `custom_type_converters`: tried before the default typed decoding."""

    def __init__(
        self,
        *,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        encoding: str = JSON_PLAIN,
        custom_type_converters: Sequence[JSONTypeConverter] = (),
    ) -> None:
        self._encoder = encoder
        self._decoder = decoder
        self._encoding = encoding
        self._custom_type_converters = tuple(custom_type_converters)

    @property
    def encoding(self) -> str:
        return self._encoding

    def to_payload(self, value: Any) -> Payload | None:
        try:
            if self._encoder is not None:
                data = json.loads(json.dumps(value, cls=self._encoder, separators=(",", ":")))
            else:
                # to_jsonable_python handles dataclasses, pydantic models, datetimes, enums, UUIDs,
                # sets and nested containers of them without needing the static type.
                data = pydantic_core.to_jsonable_python(value)
        except (TypeError, ValueError, pydantic_core.PydanticSerializationError) as exc:
            raise PayloadConversionError(f"cannot encode {type(value).__name__} as JSON: {exc}") from exc
        return Payload(metadata={"encoding": self._encoding}, data=data)

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        data = payload.data
        if self._decoder is not None:
            data = json.loads(json.dumps(data), cls=self._decoder)
        if type_hint is None:
            return data
        return value_to_type(type_hint, data, self._custom_type_converters)


class DefaultPayloadConverter(CompositePayloadConverter):
    """`binary/null`, `binary/plain` and `json/plain` (temporalio's default without protobuf)."""

    default_encoding_payload_converters: ClassVar[tuple[EncodingPayloadConverter, ...]] = (
        BinaryNullPayloadConverter(),
        BinaryPlainPayloadConverter(),
        JSONPlainPayloadConverter(),
    )

    def __init__(self) -> None:
        super().__init__(*DefaultPayloadConverter.default_encoding_payload_converters)


PayloadConverter.default = DefaultPayloadConverter()


# --- typed decoding -----------------------------------------------------------------------------

_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(hint: Any) -> TypeAdapter[Any]:
    try:
        adapter = _adapters.get(hint)
    except TypeError:  # unhashable hint: build an adapter each time rather than fail
        return TypeAdapter(hint)
    if adapter is None:
        # Building one is far more expensive than using it: keep it.
        adapter = _adapters[hint] = TypeAdapter(hint)
    return adapter


def value_to_type(hint: Any, value: Any, custom_converters: Sequence[JSONTypeConverter] = ()) -> Any:
    """Convert a JSON value to `hint` (temporalio's helper). Custom converters are tried first,
    at the top and inside lists, tuples, sets, dicts, optionals and dataclass fields; the rest is
    pydantic's validation. PayloadConversionError when the value does not fit."""
    if hint is None or hint is Any or hint is inspect.Parameter.empty or hint is object:
        return value
    if custom_converters:
        for converter in custom_converters:
            converted = converter.to_typed_value(hint, value)
            if converted is not JSONTypeConverter.Unhandled:
                return converted
        nested = _nested(hint, value, custom_converters)
        if nested is not _NOT_NESTED:
            return nested
    try:
        return _adapter(hint).validate_python(value)
    except pydantic_core.ValidationError as exc:
        raise PayloadConversionError(f"cannot decode payload as {hint!r}: {exc}") from exc


_NOT_NESTED: Any = object()


def _nested(hint: Any, value: Any, custom: Sequence[JSONTypeConverter]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        rest = [a for a in args if a is not type(None)]
        return value_to_type(rest[0], value, custom) if len(rest) == 1 else _NOT_NESTED
    if origin in (list, collections.abc.Sequence, set, frozenset) and args and isinstance(value, list):
        items = [value_to_type(args[0], v, custom) for v in value]
        return items if origin is collections.abc.Sequence else origin(items)
    if origin is tuple and args and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(value_to_type(args[0], v, custom) for v in value)
        return tuple(value_to_type(a, v, custom) for a, v in zip(args, value, strict=False))
    if origin in (dict, collections.abc.Mapping) and len(args) == 2 and isinstance(value, dict):
        return {
            value_to_type(args[0], k, custom): value_to_type(args[1], v, custom) for k, v in value.items()
        }
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        fields = {f.name: f for f in dataclasses.fields(hint) if f.init}
        kwargs = {k: value_to_type(hints.get(k), v, custom) for k, v in value.items() if k in fields}
        return hint(**kwargs)
    return _NOT_NESTED
