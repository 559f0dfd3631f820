"""Typed search attributes (temporalio.common's `SearchAttributeKey`, `SearchAttributePair`,
`SearchAttributeUpdate`, `TypedSearchAttributes`), re-exported by `tidal.common`.

On the wire a search attribute is a plain JSON value (docs/visibility.md): the key's type only
decides how a value is encoded here (an aware datetime as ISO-8601) and decoded back. Values read
from the server carry no declared type, so `from_json` infers one; lookups therefore match a key
by name and Python value type, so `for_text` and `for_keyword` keys both find a string.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, get_origin

__all__ = [
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "TypedSearchAttributes",
]

SearchAttributeValueType = TypeVar("SearchAttributeValueType")


class SearchAttributeIndexedValueType(IntEnum):
    """How the server indexes a search attribute (temporalio's numbering)."""

    TEXT = 1
    KEYWORD = 2
    INT = 3
    DOUBLE = 4
    BOOL = 5
    DATETIME = 6
    KEYWORD_LIST = 7


class SearchAttributeKey(ABC, Generic[SearchAttributeValueType]):
    """A typed key: make one with `SearchAttributeKey.for_keyword("CustomerId")` and friends."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def indexed_value_type(self) -> SearchAttributeIndexedValueType: ...

    @property
    @abstractmethod
    def value_type(self) -> type[SearchAttributeValueType]: ...

    @property
    def origin_value_type(self) -> type:
        return get_origin(self.value_type) or self.value_type

    def value_set(self, value: SearchAttributeValueType) -> SearchAttributeUpdate[SearchAttributeValueType]:
        return _SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[SearchAttributeValueType]:
        return _SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT, str)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD, str)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.INT, int)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE, float)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL, bool)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME, datetime)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST, Sequence[str])  # type: ignore[type-abstract]


@dataclass(frozen=True)
class _SearchAttributeKey(SearchAttributeKey[SearchAttributeValueType]):
    _name: str
    _indexed_value_type: SearchAttributeIndexedValueType
    _value_type: type[SearchAttributeValueType]

    @property
    def name(self) -> str:
        return self._name

    @property
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        return self._indexed_value_type

    @property
    def value_type(self) -> type[SearchAttributeValueType]:
        return self._value_type


class SearchAttributePair(NamedTuple, Generic[SearchAttributeValueType]):
    key: SearchAttributeKey[SearchAttributeValueType]
    value: SearchAttributeValueType


class SearchAttributeUpdate(ABC, Generic[SearchAttributeValueType]):
    """What `key.value_set(v)` / `key.value_unset()` make, for `workflow.upsert_search_attributes`."""

    @property
    @abstractmethod
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]: ...

    @property
    @abstractmethod
    def value(self) -> SearchAttributeValueType | None: ...


@dataclass(frozen=True)
class _SearchAttributeUpdate(SearchAttributeUpdate[SearchAttributeValueType]):
    _key: SearchAttributeKey[SearchAttributeValueType]
    _value: SearchAttributeValueType | None

    @property
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        return self._key

    @property
    def value(self) -> SearchAttributeValueType | None:
        return self._value


def _same_key(a: SearchAttributeKey[Any], b: object) -> bool:
    return (
        isinstance(b, SearchAttributeKey) and a.name == b.name and a.origin_value_type is b.origin_value_type
    )


@dataclass(frozen=True)
class TypedSearchAttributes(Collection[SearchAttributePair[Any]]):
    """An immutable collection of pairs, sorted by key name, without duplicate names."""

    search_attributes: Sequence[SearchAttributePair[Any]]
    empty: ClassVar[TypedSearchAttributes]

    def __post_init__(self) -> None:
        pairs = sorted(self.search_attributes, key=lambda pair: pair.key.name)
        for before, pair in itertools.pairwise(pairs):
            if before.key.name == pair.key.name:
                raise ValueError(f"Duplicate search attribute entries found for key {pair.key.name}")
        object.__setattr__(self, "search_attributes", pairs)

    def __len__(self) -> int:
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair[Any]]:
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        return any(_same_key(k, key) for k, _ in self)

    def __getitem__(self, key: SearchAttributeKey[SearchAttributeValueType]) -> SearchAttributeValueType:
        for k, v in self:
            if _same_key(k, key):
                return v  # type: ignore[no-any-return]
        raise KeyError(key.name)

    def get(self, key: SearchAttributeKey[SearchAttributeValueType], default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *search_attributes: SearchAttributePair[Any]) -> TypedSearchAttributes:
        """A copy with these pairs replacing those of the same key name (or added)."""
        by_name = {p.key.name: p for p in self.search_attributes}
        by_name.update((p.key.name, p) for p in search_attributes)
        return TypedSearchAttributes(list(by_name.values()))

    def to_json(self) -> dict[str, Any]:
        """The wire form: name -> JSON value."""
        return {p.key.name: encode_value(p.value) for p in self}

    @staticmethod
    def from_json(values: Mapping[str, Any]) -> TypedSearchAttributes:
        """Pairs with keys inferred from the JSON values (see the module docstring)."""
        pairs = []
        for name, value in values.items():
            key = _infer_key(name, value)
            if key is not None:
                pairs.append(SearchAttributePair(key, _decode_value(key, value)))
        return TypedSearchAttributes(pairs)


TypedSearchAttributes.empty = TypedSearchAttributes([])


def encode_value(value: Any) -> Any:
    """A search attribute value as JSON: an aware ISO-8601 string for a datetime (naive ones are
    taken as UTC), a list for a keyword list, the value itself otherwise."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


def _parse_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _infer_key(name: str, value: Any) -> SearchAttributeKey[Any] | None:
    if isinstance(value, bool):
        return SearchAttributeKey.for_bool(name)
    if isinstance(value, int):
        return SearchAttributeKey.for_int(name)
    if isinstance(value, float):
        return SearchAttributeKey.for_float(name)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return SearchAttributeKey.for_keyword_list(name)
    if isinstance(value, str):
        if _parse_datetime(value) is not None:
            return SearchAttributeKey.for_datetime(name)
        return SearchAttributeKey.for_keyword(name)
    return None


def _decode_value(key: SearchAttributeKey[Any], value: Any) -> Any:
    if key.indexed_value_type is SearchAttributeIndexedValueType.DATETIME:
        return _parse_datetime(value)
    if key.indexed_value_type is SearchAttributeIndexedValueType.KEYWORD_LIST:
        return list(value)
    return value
