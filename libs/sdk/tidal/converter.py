"""Data conversion between Python values and `Payload`s (mirrors temporalio.converter).

The default encoding is `json/plain`: the payload's `data` *is* the JSON value, so histories stay
readable in Postgres and non-Python clients can read and write them. Typed decoding goes through a
pydantic `TypeAdapter` per type hint (cached: building one is far more expensive than using it), so
dataclasses, pydantic models, datetimes, enums and containers of them round-trip.

A `PayloadCodec` (e.g. `tidal.contrib.encryption.EncryptionCodec`) transforms payloads where they
leave and enter the SDK: the client encodes what it sends and decodes what it receives; the
worker decodes every task and encodes every completion. Workflow code and the deterministic
runtime only ever see plain payloads, and the server only ever sees encoded ones.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

import pydantic_core
from pydantic import BaseModel, TypeAdapter
from tidal_schema import Failure, Payload

from .exceptions import TidalError

__all__ = [
    "DataConverter",
    "PayloadCodec",
    "PayloadConversionError",
    "default",
]

T = TypeVar("T")

JSON_PLAIN = "json/plain"


class PayloadConversionError(TidalError, ValueError):
    """A payload could not be encoded or decoded (a ValueError too, as before)."""


class PayloadCodec(abc.ABC):
    """Transforms payloads on their way out of (`encode`) and into (`decode`) the SDK, as
    temporalio's PayloadCodec does: compression, encryption... `decode` must pass payloads it did
    not encode through unchanged (a plain payload may come from the HTTP API or a command)."""

    @abc.abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]: ...

    @abc.abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]: ...


class DataConverter:
    """Converts values to and from payloads. `DataConverter.default` is the JSON converter;
    `DataConverter(payload_codec=...)` adds a codec."""

    default: ClassVar[DataConverter]

    def __init__(self, *, payload_codec: PayloadCodec | None = None) -> None:
        self._adapters: dict[Any, TypeAdapter[Any]] = {}
        self.payload_codec = payload_codec

    # --- the codec, applied at the SDK's edges ------------------------------------------------

    async def encode(self, values: Sequence[Any]) -> tuple[Payload, ...]:
        """Values -> payloads as they leave the SDK (converted, then codec-encoded)."""
        return await self.encode_payloads(self.to_payloads(values))

    async def decode(self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None) -> list[Any]:
        """Payloads that entered the SDK -> values (codec-decoded, then converted)."""
        return self.from_payloads(await self.decode_payloads(payloads), type_hints)

    async def encode_payloads(self, payloads: Sequence[Payload]) -> tuple[Payload, ...]:
        if self.payload_codec is None or not payloads:
            return tuple(payloads)
        return tuple(await self.payload_codec.encode(payloads))

    async def decode_payloads(self, payloads: Sequence[Payload]) -> tuple[Payload, ...]:
        if self.payload_codec is None or not payloads:
            return tuple(payloads)
        return tuple(await self.payload_codec.decode(payloads))

    async def encode_model(self, obj: T) -> T:
        """Every payload inside a message (task completion, failure...) codec-encoded."""
        if self.payload_codec is None:
            return obj
        return await _map_payloads(obj, self.payload_codec.encode)

    async def decode_model(self, obj: T) -> T:
        """Every payload inside a received message (task, history event, failure) decoded."""
        if self.payload_codec is None:
            return obj
        return await _map_payloads(obj, self.payload_codec.decode)

    async def decode_failure(self, failure: Failure) -> Failure:
        return await self.decode_model(failure)

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


_Codec = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


async def _map_payloads(value: T, fn: _Codec) -> T:
    """Rebuild `value` with `fn` applied to every Payload in it (pydantic models, tuples, lists
    and dicts are walked; a sequence of payloads goes to `fn` in one call). Unchanged parts are
    returned as they are, so messages without payloads cost one walk and no copies."""
    out: Any
    if isinstance(value, Payload):
        out = (await fn([value]))[0]
    elif isinstance(value, BaseModel):
        updates: dict[str, Any] = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = await _map_payloads(old, fn)
            if new is not old:
                updates[name] = new
        out = value.model_copy(update=updates) if updates else value
    elif isinstance(value, tuple | list) and value:
        if all(isinstance(v, Payload) for v in value):
            out = type(value)(await fn(value))
        else:
            items = [await _map_payloads(v, fn) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            out = type(value)(items) if changed else value
    elif isinstance(value, dict) and value:
        mapped = {k: await _map_payloads(v, fn) for k, v in value.items()}
        out = mapped if any(mapped[k] is not v for k, v in value.items()) else value
    else:
        out = value
    return out  # type: ignore[no-any-return]


def default() -> DataConverter:
    """The default data converter (temporalio's deprecated `converter.default()`; prefer
    `DataConverter.default`)."""
    return DataConverter.default
