"""temporalio.converter's search attribute helpers, on Tidal's wire form (re-exported by
`tidal.converter`): a search attribute is a plain JSON value under its name (docs/visibility.md),
not a payload, so `api` is a dict of JSON values. Values must have the key's type; datetimes
must be aware (as in temporalio)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any

from ._search_attributes import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    TypedSearchAttributes,
    _decode_value,
    _infer_key,
    encode_value,
)

__all__ = [
    "decode_search_attributes",
    "decode_typed_search_attributes",
    "encode_search_attribute_values",
    "encode_search_attributes",
    "encode_typed_search_attribute_value",
]


def encode_search_attributes(
    attributes: TypedSearchAttributes | Mapping[str, Sequence[Any]], api: MutableMapping[str, Any]
) -> None:
    """Put `attributes` into `api` (name -> JSON value). The untyped form (name -> list of
    values) is temporalio's deprecated one."""
    if isinstance(attributes, TypedSearchAttributes):
        for pair in attributes:
            api[pair.key.name] = encode_typed_search_attribute_value(pair.key, pair.value)
        return
    for name, values in attributes.items():
        api[name] = encode_search_attribute_values(values)


def encode_typed_search_attribute_value(key: SearchAttributeKey[Any], value: Any) -> Any:
    """The JSON value for `key` (None unsets it). TypeError for a value of another type."""
    if value is None:
        return None
    if not isinstance(value, key.origin_value_type):
        raise TypeError(
            f"value {value!r} is not suitable for indexed value type {key.indexed_value_type.name}"
        )
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("timezone must be present on all search attribute dates")
    if key.indexed_value_type is SearchAttributeIndexedValueType.KEYWORD_LIST:
        items: Sequence[Any] = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, str) for v in items):
            raise TypeError("all values of a keyword list must be strings")
    return encode_value(value)


def encode_search_attribute_values(vals: Sequence[Any]) -> Any:
    """The JSON value of an untyped attribute: one value as itself, several as a list (all of one
    type: str, int, float, bool or aware datetime)."""
    if not isinstance(vals, list | tuple):
        raise TypeError("search attribute values must be lists")
    kinds = set()
    for v in vals:
        if isinstance(v, datetime) and v.tzinfo is None:
            raise ValueError("timezone must be present on all search attribute dates")
        if not isinstance(v, str | int | float | bool | datetime):
            raise TypeError(
                f"search attribute value of type {type(v).__name__} not one of str, int, float, bool, "
                "or datetime"
            )
        kinds.add(type(v))
    if len(kinds) > 1:
        raise TypeError("search attribute values must have the same type for the same key")
    encoded = [encode_value(v) for v in vals]
    return encoded[0] if len(encoded) == 1 else encoded


def decode_search_attributes(api: Mapping[str, Any]) -> dict[str, list[Any]]:
    """name -> list of values (temporalio's deprecated untyped form); ISO-8601 strings with an
    offset become datetimes."""
    out: dict[str, list[Any]] = {}
    for name, value in api.items():
        values = value if isinstance(value, list) else [value]
        decoded = []
        for v in values:
            key = _infer_key(name, v)
            decoded.append(_decode_value(key, v) if key is not None else v)
        out[name] = decoded
    return out


def decode_typed_search_attributes(api: Mapping[str, Any]) -> TypedSearchAttributes:
    """Typed pairs, their keys inferred from the JSON values (`TypedSearchAttributes.from_json`)."""
    return TypedSearchAttributes.from_json(api)
