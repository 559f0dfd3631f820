"""`DataConverter` (temporalio.converter's; re-exported by `tidal.converter`): a payload
converter, an optional codec and a failure converter.

The codec applies where payloads leave and enter the SDK: the client encodes what it sends and
decodes what it receives; the worker decodes every task and encodes every completion
(`encode_model` / `decode_model` walk a whole message). Workflow code and the deterministic
runtime only ever see plain payloads, and the server only ever sees encoded ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from tidal_schema import Failure, Payload

from ._failure_converter import DefaultFailureConverter, FailureConverter
from ._payload_codec import PayloadCodec, map_failures, map_payloads
from ._payload_converter import DefaultPayloadConverter, PayloadConverter
from ._serialization_context import SerializationContext, WithSerializationContext
from ._transfer_types import TransferTypes

__all__ = ["DataConverter", "default"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class DataConverter(WithSerializationContext):
    """`DataConverter.default` is JSON without a codec; `DataConverter(payload_codec=...)` adds
    a codec, `payload_converter_class=` / `failure_converter_class=` replace the converters
    (classes with a no-argument constructor, as in temporalio)."""

    payload_converter_class: type[PayloadConverter] = DefaultPayloadConverter
    payload_codec: PayloadCodec | None = None
    failure_converter_class: type[FailureConverter] = DefaultFailureConverter
    payload_converter: PayloadConverter = field(init=False)
    failure_converter: FailureConverter = field(init=False)

    default: ClassVar[DataConverter]

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_converter", TransferTypes(self.payload_converter_class()))
        object.__setattr__(self, "failure_converter", self.failure_converter_class())

    # --- values <-> payloads, with the codec (what leaves and enters the SDK) -----------------

    async def encode(self, values: Sequence[Any]) -> tuple[Payload, ...]:
        """Values -> payloads as they leave the SDK (converted, then codec-encoded)."""
        return await self.encode_payloads(self.to_payloads(values))

    async def decode(self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None) -> list[Any]:
        """Payloads that entered the SDK -> values (codec-decoded, then converted)."""
        return self.from_payloads(await self.decode_payloads(payloads), type_hints)

    async def encode_wrapper(self, values: Sequence[Any]) -> tuple[Payload, ...]:
        return await self.encode(values)

    async def decode_wrapper(
        self, payloads: Sequence[Payload] | None, type_hints: Sequence[Any] | None = None
    ) -> list[Any]:
        return await self.decode(payloads, type_hints) if payloads else []

    async def encode_failure(self, exception: BaseException, failure: Failure | None = None) -> Failure:
        """The failure for `exception`, converted and codec-encoded (`failure` is ignored:
        Tidal's failures are immutable, the result is returned)."""
        del failure
        converted = self.failure_converter.to_failure(exception, self.payload_converter)
        return await self.encode_model(converted)

    async def decode_failure(self, failure: Failure) -> BaseException:
        """The exception a received failure describes (codec-decoded, then converted)."""
        decoded = await self.decode_model(failure)
        return self.failure_converter.from_failure(decoded, self.payload_converter)

    async def encode_payloads(self, payloads: Sequence[Payload]) -> tuple[Payload, ...]:
        if self.payload_codec is None or not payloads:
            return tuple(payloads)
        return tuple(await self.payload_codec.encode(payloads))

    async def decode_payloads(self, payloads: Sequence[Payload]) -> tuple[Payload, ...]:
        if self.payload_codec is None or not payloads:
            return tuple(payloads)
        return tuple(await self.payload_codec.decode(payloads))

    async def encode_model(self, obj: T) -> T:
        """A message as it leaves the SDK: its failures as the failure converter sends them
        (e.g. with encoded attributes), then every payload codec-encoded."""
        if self.failure_converter._transforms_outbound:
            obj = map_failures(obj, self._outbound_failure)
        if self.payload_codec is None:
            return obj
        return await map_payloads(obj, self.payload_codec.encode)

    async def decode_model(self, obj: T) -> T:
        """Every payload inside a received message (task, history event, failure) decoded."""
        if self.payload_codec is None:
            return obj
        return await map_payloads(obj, self.payload_codec.decode)

    def _outbound_failure(self, failure: Failure) -> Failure:
        return self.failure_converter._outbound(failure, self.payload_converter)

    # --- values <-> payloads, without the codec (inside the SDK) -----------------------------

    def to_payload(self, value: Any) -> Payload:
        return self.payload_converter.to_payload(value)

    def to_payloads(self, values: Sequence[Any]) -> tuple[Payload, ...]:
        return tuple(self.payload_converter.to_payloads(values))

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return self.payload_converter.from_payload(payload, type_hint)

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None
    ) -> list[Any]:
        hints = list(type_hints or ())
        if not hints:
            return self.payload_converter.from_payloads(payloads)
        # Fewer hints than payloads (extra arguments): the rest decode as plain values.
        hints += [None] * (len(payloads) - len(hints))
        return self.payload_converter.from_payloads(payloads, hints[: len(payloads)])

    def with_context(self, context: SerializationContext) -> Self:
        """A copy whose context-aware converters and codec have `context` (self if none is)."""
        parts: dict[str, Any] = {
            "payload_converter": self.payload_converter,
            "payload_codec": self.payload_codec,
            "failure_converter": self.failure_converter,
        }
        with_context = {
            k: v.with_context(context) for k, v in parts.items() if isinstance(v, WithSerializationContext)
        }
        changed = {k: v for k, v in with_context.items() if v is not parts[k]}
        if not changed:
            return self
        clone = dataclasses.replace(self)
        for k, v in {**parts, **changed}.items():
            object.__setattr__(clone, k, v)
        return clone


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """The default data converter (temporalio's deprecated `converter.default()`; prefer
    `DataConverter.default`)."""
    return DataConverter.default
