"""Compile a parsed list filter into SQLAlchemy expressions over `executions`.

System attributes are `executions` columns (indexed); a custom attribute becomes an EXISTS over
`search_attribute_values` on the column of its registered type, whose (namespace, name, value)
indexes keep it selective. A literal that does not fit the attribute's type is a QueryError
naming the attribute's position, found before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from tidal_schema import WorkflowExecutionStatus

from ..db import tables as t
from .attributes import (
    SYSTEM_ATTRIBUTES,
    VALUE_COLUMN,
    SearchAttributeType,
    SearchAttributeValueError,
    coerce,
)
from .query import BoolOp, Comparison, Expr, Query, QueryError, Value

ex = t.executions
sav = t.search_attribute_values
_STATUSES = {s.value.lower(): s.value for s in WorkflowExecutionStatus}
_EQUALITY_ONLY = (SearchAttributeType.BOOL, SearchAttributeType.TEXT)


__all__ = ["Compiled", "coerce_literals", "compile_query"]


@dataclass(frozen=True, kw_only=True)
class Compiled:
    where: sa.ColumnElement[bool]
    descending: bool  # ORDER BY StartTime direction (keyset on start_time, run_id)
    group_by: str | None = None  # GROUP BY ExecutionStatus (counts only)


def compile_query(query: Query, registry: Mapping[str, SearchAttributeType]) -> Compiled:
    """`registry`: the namespace's custom attribute types (system attributes are built in)."""
    where: sa.ColumnElement[bool] = sa.true() if query.where is None else _expr(query.where, registry)
    descending = True
    if len(query.order_by) > 1:
        raise QueryError("ORDER BY takes one attribute (StartTime)", position=query.order_by[1].pos)
    for order in query.order_by:
        if order.attribute != "StartTime":
            raise QueryError(
                "ORDER BY supports StartTime only (ASC or DESC)", position=order.pos, token=order.attribute
            )
        descending = order.descending
    group_by = None
    for group in query.group_by:
        if group.attribute != "ExecutionStatus" or group_by is not None:
            raise QueryError(
                "GROUP BY supports ExecutionStatus only", position=group.pos, token=group.attribute
            )
        group_by = group.attribute
    return Compiled(where=where, descending=descending, group_by=group_by)


def _expr(e: Expr, registry: Mapping[str, SearchAttributeType]) -> sa.ColumnElement[bool]:
    if isinstance(e, BoolOp):
        parts = [_expr(i, registry) for i in e.items]
        return sa.and_(*parts) if e.op == "and" else sa.or_(*parts)
    if e.attribute in SYSTEM_ATTRIBUTES:
        attr = SYSTEM_ATTRIBUTES[e.attribute]
        values = coerce_literals(e, attr.type)
        if e.attribute == "ExecutionStatus":
            values = [_status(e, v) for v in values]
        return _predicate(e, ex.c[attr.column], attr.type, values)
    kind = registry.get(e.attribute)
    if kind is None:
        raise QueryError(f"unknown search attribute {e.attribute!r}", position=e.pos, token=e.attribute)
    base = sa.and_(
        sav.c.namespace == ex.c.namespace,
        sav.c.workflow_id == ex.c.workflow_id,
        sav.c.run_id == ex.c.run_id,
        sav.c.name == e.attribute,
    )
    if e.op == "is null":
        return ~sa.exists().where(base)
    if e.op == "is not null":
        return sa.exists().where(base)
    values = coerce_literals(e, kind)
    cond = _predicate(e, sav.c[VALUE_COLUMN[kind]], kind, values)
    # Negations (!=, NOT IN, NOT BETWEEN) match runs that have the attribute with another
    # value; runs without it never match a value predicate (SQL NULL semantics, as Temporal).
    return sa.exists().where(base, cond)


def _a(kind: SearchAttributeType) -> str:
    return f"an {kind.value}" if kind is SearchAttributeType.INT else f"a {kind.value}"


def coerce_literals(e: Comparison, kind: SearchAttributeType) -> list[Any]:
    """Check the operator fits the type, then convert the literals (QueryError naming them)."""
    if kind in _EQUALITY_ONLY and e.op not in ("=", "!=", "in", "not in", "is null", "is not null"):
        raise QueryError(
            f"{e.attribute} is {_a(kind)} attribute: it supports =, != and IN only",
            position=e.pos,
            token=e.attribute,
        )
    if e.op == "starts_with" and kind is not SearchAttributeType.KEYWORD:
        raise QueryError(
            f"STARTS_WITH needs a Keyword attribute; {e.attribute} is {_a(kind)} attribute",
            position=e.pos,
            token=e.attribute,
        )
    out: list[Any] = []
    for v in e.values:
        try:
            out.append(coerce(v, kind))
        except SearchAttributeValueError as exc:
            raise QueryError(
                f"{e.attribute} is {_a(kind)} attribute: {exc}", position=e.pos, token=e.attribute
            ) from None
    return out


def _status(e: Comparison, value: Value) -> str:
    status = _STATUSES.get(str(value).lower())
    if status is None:
        raise QueryError(
            f"{value!r} is not an ExecutionStatus (one of {', '.join(_STATUSES.values())})",
            position=e.pos,
            token=e.attribute,
        )
    return status


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _predicate(
    e: Comparison, col: sa.ColumnElement[Any], kind: SearchAttributeType, values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    op = e.op
    if op == "is null":
        return col.is_(None)
    if op == "is not null":
        return col.is_not(None)
    if kind is SearchAttributeType.TEXT:
        # Text matches words anywhere in the value, case-insensitively (not index-backed).
        matches = [sa.func.lower(col).like(f"%{_like_escape(v.lower())}%", escape="\\") for v in values]
        any_match = sa.or_(*matches)
        return ~any_match if op in ("!=", "not in") else any_match
    if op == "starts_with":
        return col.like(f"{_like_escape(values[0])}%", escape="\\")
    if op in ("in", "not in"):
        return col.in_(values) if op == "in" else col.not_in(values)
    if op in ("between", "not between"):
        inside = col.between(values[0], values[1])
        return ~inside if op == "not between" else inside
    v = values[0]
    comparisons: dict[str, Any] = {
        "=": col == v,
        "!=": col != v,
        ">": col > v,
        ">=": col >= v,
        "<": col < v,
        "<=": col <= v,
    }
    result: sa.ColumnElement[bool] = comparisons[op]
    return result
