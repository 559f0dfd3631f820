"""A custom payload encoding for converter tests (temporalio's custom-converter sample): `Money`
travels as `money/v1` "<cents> <currency>" text, so a test can see whether a payload went through
the custom converter (and, behind a codec, whether the text is hidden)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidal.converter import EncodingPayloadConverter
from tidal_schema import Payload

__all__ = ["Money", "MoneyEncoding"]


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str


class MoneyEncoding(EncodingPayloadConverter):
    @property
    def encoding(self) -> str:
        return "money/v1"

    def to_payload(self, value: Any) -> Payload | None:
        if not isinstance(value, Money):
            return None
        return Payload(metadata={"encoding": self.encoding}, data=f"{value.cents} {value.currency}")

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        cents, currency = str(payload.data).split()
        return Money(int(cents), currency)
