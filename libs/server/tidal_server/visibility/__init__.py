"""Visibility: list and count runs with a filter language over typed search attributes.

`query` parses filters (pure), `compile` turns them into SQL over `executions`, `reader` runs
list/count (frontend, benchmark), `writer` keeps typed search attribute rows (history), `match`
applies a filter to documents in memory (schedules' own attributes).
"""

from .attributes import (
    BUILTIN_ATTRIBUTES,
    SYSTEM_ATTRIBUTES,
    SearchAttributeType,
    SearchAttributeValueError,
    VisibilityError,
    check_name,
    coerce,
    infer_type,
    invalid_search_attributes,
)
from .match import Matcher, compile_matcher
from .query import QueryError, parse
from .reader import (
    Count,
    ExecutionSummary,
    Page,
    PageTokenError,
    count_executions,
    count_grouped,
    list_executions,
    registry,
)

__all__ = [
    "BUILTIN_ATTRIBUTES",
    "SYSTEM_ATTRIBUTES",
    "Count",
    "ExecutionSummary",
    "Matcher",
    "Page",
    "PageTokenError",
    "QueryError",
    "SearchAttributeType",
    "SearchAttributeValueError",
    "VisibilityError",
    "check_name",
    "coerce",
    "compile_matcher",
    "count_executions",
    "count_grouped",
    "infer_type",
    "invalid_search_attributes",
    "list_executions",
    "parse",
    "registry",
]
