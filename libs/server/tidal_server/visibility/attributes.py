"""Search attribute types: the system attributes, type inference and value coercion.

Pure functions, shared by history (which writes typed values) and the frontend (which
type-checks query literals against the same rules).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class VisibilityError(Exception):
    """Root of visibility errors (bad queries, bad attribute values)."""


class SearchAttributeValueError(VisibilityError):
    """A value that does not fit its search attribute's type, or a reserved/invalid name."""


class SearchAttributeType(StrEnum):
    KEYWORD = "Keyword"
    TEXT = "Text"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"


@dataclass(frozen=True, kw_only=True)
class SystemAttribute:
    name: str
    type: SearchAttributeType
    column: str  # the `executions` column


SYSTEM_ATTRIBUTES: dict[str, SystemAttribute] = {
    a.name: a
    for a in (
        SystemAttribute(name="WorkflowId", type=SearchAttributeType.KEYWORD, column="workflow_id"),
        SystemAttribute(name="RunId", type=SearchAttributeType.KEYWORD, column="run_id"),
        SystemAttribute(name="WorkflowType", type=SearchAttributeType.KEYWORD, column="workflow_type"),
        SystemAttribute(name="ExecutionStatus", type=SearchAttributeType.KEYWORD, column="status"),
        SystemAttribute(name="TaskQueue", type=SearchAttributeType.KEYWORD, column="task_queue"),
        SystemAttribute(name="StartTime", type=SearchAttributeType.DATETIME, column="start_time"),
        SystemAttribute(name="CloseTime", type=SearchAttributeType.DATETIME, column="close_time"),
    )
}

# Custom attributes the engine itself sets, with the types Temporal gives them: registered in
# every namespace without a row in `search_attribute_defs` (schedules' runs carry them, see
# docs/schedules.md), so a first value can never register them with another type.
BUILTIN_ATTRIBUTES: dict[str, SearchAttributeType] = {
    "TemporalScheduledById": SearchAttributeType.KEYWORD,
    "TemporalScheduledStartTime": SearchAttributeType.DATETIME,
}

# Which `search_attribute_values` column holds each type.
VALUE_COLUMN: dict[SearchAttributeType, str] = {
    SearchAttributeType.KEYWORD: "str_value",
    SearchAttributeType.TEXT: "text_value",
    SearchAttributeType.INT: "int_value",
    SearchAttributeType.BOOL: "int_value",
    SearchAttributeType.DOUBLE: "double_value",
    SearchAttributeType.DATETIME: "time_value",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# A string that is an ISO-8601 date-time with an explicit offset is inferred as Datetime.
_ISO_WITH_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
# Keywords are B-tree indexed, and Postgres refuses index entries over ~2.7 kB: keep them well
# below. Text is not indexed; its bound only keeps rows reasonable.
MAX_KEYWORD_BYTES = 1024
MAX_TEXT_BYTES = 65536


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise SearchAttributeValueError(
            f"search attribute name {name!r} is invalid: use letters, digits and _ (at most 64), "
            "not starting with a digit"
        )
    if name in SYSTEM_ATTRIBUTES:
        raise SearchAttributeValueError(f"search attribute {name!r} is a system attribute and read-only")


def infer_type(value: Any) -> SearchAttributeType:
    """The type a first-seen attribute is registered with."""
    if isinstance(value, bool):
        return SearchAttributeType.BOOL
    if isinstance(value, int):
        return SearchAttributeType.INT
    if isinstance(value, float):
        return SearchAttributeType.DOUBLE
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_WITH_ZONE.match(value)):
        return SearchAttributeType.DATETIME
    if isinstance(value, str):
        return SearchAttributeType.KEYWORD
    raise SearchAttributeValueError(
        f"search attribute value {value!r} has no search attribute type (use a string, number, "
        "bool or ISO-8601 date-time)"
    )


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SearchAttributeValueError(f"{value!r} is not an ISO-8601 date-time") from None
    else:
        raise SearchAttributeValueError(f"{value!r} is not an ISO-8601 date-time")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _check_string(value: str, limit: int, kind: SearchAttributeType) -> None:
    if "\x00" in value:  # Postgres text and JSONB cannot hold NUL
        raise SearchAttributeValueError(f"{kind.value} value contains a NUL character")
    if len(value.encode()) > limit:
        raise SearchAttributeValueError(f"{kind.value} value longer than {limit} bytes (UTF-8)")


def coerce(value: Any, kind: SearchAttributeType) -> str | int | float | datetime:
    """`value` as the Python value of `kind` (Bool as 0/1), or SearchAttributeValueError."""
    if kind in (SearchAttributeType.KEYWORD, SearchAttributeType.TEXT):
        if not isinstance(value, str):
            raise SearchAttributeValueError(f"{kind.value} value must be a string, not {value!r}")
        _check_string(
            value, MAX_KEYWORD_BYTES if kind is SearchAttributeType.KEYWORD else MAX_TEXT_BYTES, kind
        )
        return value
    if kind is SearchAttributeType.BOOL:
        if not isinstance(value, bool):
            raise SearchAttributeValueError(f"Bool value must be true or false, not {value!r}")
        return int(value)
    if kind is SearchAttributeType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SearchAttributeValueError(f"Int value must be an integer, not {value!r}")
        if not -(2**63) <= value < 2**63:
            raise SearchAttributeValueError(f"Int value {value} does not fit in 64 bits")
        return value
    if kind is SearchAttributeType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SearchAttributeValueError(f"Double value must be a finite number, not {value!r}")
        return float(value)
    return parse_datetime(value)


def to_json(value: Any) -> Any:
    """A search attribute value as stored in the JSON document (date-times as ISO strings)."""
    if isinstance(value, datetime):
        return parse_datetime(value).isoformat()
    return value


def invalid_search_attributes(
    values: Mapping[str, Any], *, allow_none: bool, keyword_lists: bool = False
) -> str | None:
    """Why `values` cannot be set as search attributes, or None. Types are checked against
    inference only (the namespace's registry may still disagree; see writer.py). With
    `keyword_lists` (schedules' own attributes, kept in their document rather than the typed
    index), a list of keyword strings is a value too."""
    for name, value in values.items():
        try:
            check_name(name)
            if value is None:
                if not allow_none:
                    raise SearchAttributeValueError(f"search attribute {name!r} has no value")
                continue
            if keyword_lists and isinstance(value, list):
                _check_keyword_list(name, value)
                continue
            kind = infer_type(value)
            # A string may be meant for a Text attribute: check it against Text's bound here;
            # the Keyword bound applies when history indexes it as a Keyword.
            coerce(value, SearchAttributeType.TEXT if kind is SearchAttributeType.KEYWORD else kind)
        except SearchAttributeValueError as exc:
            return str(exc)
    return None


MAX_KEYWORD_LIST_ITEMS = 100


def _check_keyword_list(name: str, value: list[Any]) -> None:
    if len(value) > MAX_KEYWORD_LIST_ITEMS:
        raise SearchAttributeValueError(
            f"search attribute {name!r}: a keyword list holds at most {MAX_KEYWORD_LIST_ITEMS} values"
        )
    for item in value:
        if not isinstance(item, str):
            raise SearchAttributeValueError(
                f"search attribute {name!r}: a keyword list holds strings only, not {item!r}"
            )
        coerce(item, SearchAttributeType.KEYWORD)
