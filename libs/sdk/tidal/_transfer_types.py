"""Transfer types (temporalio.converter's `TransferTypeConverter` and `transfer_type_convertible`,
experimental there too; re-exported by `tidal.converter`): a class decorated with
`@transfer_type_convertible(SomeConverter)` is converted to its transfer type before the payload
converter encodes it, and rebuilt from it when a type hint asks for the class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, Self, TypeVar

from tidal_schema import Payload

from ._payload_converter import PayloadConverter
from ._serialization_context import SerializationContext, WithSerializationContext

__all__ = ["TransferTypeConverter", "transfer_type_convertible"]

ValueT = TypeVar("ValueT")
TransferTypeT = TypeVar("TransferTypeT")
_ATTR = "__tidal_transfer_type_converter__"


class TransferTypeConverter(ABC, Generic[ValueT, TransferTypeT]):
    """Converts a value to the type that goes on the wire (`transfer_type`, the hint used to
    decode it) and back."""

    transfer_type: type[TransferTypeT] | None = None

    @abstractmethod
    def to_transfer_type(self, value: ValueT) -> TransferTypeT: ...

    @abstractmethod
    def from_transfer_type(self, value: TransferTypeT, type_hint: type[ValueT]) -> ValueT: ...


def transfer_type_convertible(
    converter_type: type[TransferTypeConverter[ValueT, TransferTypeT]],
) -> Callable[[type[ValueT]], type[ValueT]]:
    """Class decorator: values of the class travel as `converter_type`'s transfer type."""

    def decorate(cls: type[ValueT]) -> type[ValueT]:
        if _ATTR in vars(cls):
            raise TypeError("class already has a transfer type converter")
        setattr(cls, _ATTR, converter_type())
        return cls

    return decorate


def _converter_of(t: object) -> TransferTypeConverter[Any, Any] | None:
    found = getattr(t, _ATTR, None)
    return found if isinstance(found, TransferTypeConverter) else None


class TransferTypes(PayloadConverter, WithSerializationContext):
    """Wraps the data converter's payload converter to apply transfer types (top-level values)."""

    def __init__(self, inner: PayloadConverter) -> None:
        self.inner = inner

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        out = []
        for v in values:
            converter = _converter_of(type(v))
            out.append(converter.to_transfer_type(v) if converter is not None else v)
        return self.inner.to_payloads(out)

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        if not type_hints:
            return self.inner.from_payloads(payloads, type_hints)
        converters = [_converter_of(h) for h in type_hints]
        hints = [c.transfer_type if c is not None else h for c, h in zip(converters, type_hints, strict=True)]
        values = self.inner.from_payloads(payloads, hints)
        return [
            c.from_transfer_type(v, h) if c is not None else v
            for v, c, h in zip(values, converters, type_hints, strict=False)
        ]

    def with_context(self, context: SerializationContext) -> Self:
        if not isinstance(self.inner, WithSerializationContext):
            return self
        inner = self.inner.with_context(context)
        return self if inner is self.inner else type(self)(inner)
