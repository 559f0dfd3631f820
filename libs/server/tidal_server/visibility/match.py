"""Match a parsed list filter against attribute documents in memory: how `list_schedules(query=)`
filters schedules by their own search attributes (docs/schedules.md).

Schedules are few per namespace and their attributes live in their JSON document, not in the
typed index runs use, so the frontend reads them in id order and keeps those that match. The
language, the operators each type allows and the coercion of literals are the SQL compilation's
(`compile.coerce_literals`), so a filter means the same on schedules as on runs. The differences:
an attribute's type is the namespace's registered one (history registers a schedule's as it does
a run's), otherwise the literal's (keyword lists have no registered type); a keyword list (a JSON
list of strings) matches `=`, `IN` and `STARTS_WITH` when any element does and `!=` / `NOT IN`
when none does, as Temporal's KeywordList; and only the system attributes the caller names exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .attributes import (
    SYSTEM_ATTRIBUTES,
    SearchAttributeType,
    SearchAttributeValueError,
    coerce,
    infer_type,
)
from .compile import coerce_literals
from .query import BoolOp, Comparison, Expr, GroupBy, OrderBy, Query, QueryError

__all__ = ["Matcher", "compile_matcher"]

Matcher = Callable[[Mapping[str, Any]], bool]
_NEGATIONS = ("!=", "not in", "not between")


def compile_matcher(
    query: Query,
    registry: Mapping[str, SearchAttributeType],
    *,
    system: Mapping[str, SearchAttributeType],
    entity: str,
) -> Matcher:
    """A predicate over documents (attribute name -> JSON value). `system`: the read-only
    attributes every document has; `entity` names what is listed, in errors. Literals are
    checked now, so a bad query is a QueryError before anything is read."""
    clauses: list[OrderBy | GroupBy] = [*query.order_by, *query.group_by]
    if clauses:
        raise QueryError(
            f"{entity} lists take no ORDER BY or GROUP BY (they are ordered by id)",
            position=clauses[0].pos,
            token=clauses[0].attribute,
        )
    if query.where is None:
        return lambda _doc: True
    return _expr(query.where, registry, system, entity)


def _expr(
    e: Expr,
    registry: Mapping[str, SearchAttributeType],
    system: Mapping[str, SearchAttributeType],
    entity: str,
) -> Matcher:
    if isinstance(e, BoolOp):
        parts = [_expr(i, registry, system, entity) for i in e.items]
        if e.op == "and":
            return lambda doc: all(p(doc) for p in parts)
        return lambda doc: any(p(doc) for p in parts)
    if e.attribute in SYSTEM_ATTRIBUTES and e.attribute not in system:
        raise QueryError(
            f"{e.attribute} is an attribute of workflow runs, not of {entity}s",
            position=e.pos,
            token=e.attribute,
        )
    name = e.attribute
    if e.op in ("is null", "is not null"):
        present = e.op == "is not null"
        return lambda doc: (doc.get(name) is not None) is present
    kind = system.get(name) or registry.get(name) or _literal_type(e)
    literals = coerce_literals(e, kind)

    def matches(doc: Mapping[str, Any]) -> bool:
        value = doc.get(name)
        if value is None:
            return False  # a value predicate never matches a document without the attribute
        if isinstance(value, list):
            hits = [_compare(e, kind, _coerced(v, kind), literals) for v in value]
            if e.op in _NEGATIONS:
                return all(hits) and all(v is not None for v in hits)
            return any(hits)
        return bool(_compare(e, kind, _coerced(value, kind), literals))

    return matches


def _literal_type(e: Comparison) -> SearchAttributeType:
    try:
        kind = infer_type(e.values[0])
    except SearchAttributeValueError as exc:
        raise QueryError(str(exc), position=e.pos, token=e.attribute) from None
    # 3 and 3.5 are both numbers to an attribute nobody registered.
    return SearchAttributeType.DOUBLE if kind is SearchAttributeType.INT else kind


def _coerced(value: Any, kind: SearchAttributeType) -> Any:
    """The stored value as `kind`, or None when it does not fit (it then matches nothing, as a
    run's value that could not be indexed)."""
    if kind is SearchAttributeType.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        return coerce(value, kind)
    except SearchAttributeValueError:
        return None


def _compare(e: Comparison, kind: SearchAttributeType, value: Any, literals: list[Any]) -> bool | None:
    """Whether `value` satisfies the predicate; None when it has no value of the type."""
    if value is None:
        return None
    op = e.op
    if kind is SearchAttributeType.TEXT:
        found = any(lit.lower() in value.lower() for lit in literals)
        return not found if op in ("!=", "not in") else found
    if op == "starts_with":
        return bool(value.startswith(literals[0]))
    if op in ("in", "not in"):
        return (value in literals) is (op == "in")
    if op in ("between", "not between"):
        inside = bool(literals[0] <= value <= literals[1])
        return inside is (op == "between")
    lit = literals[0]
    results = {
        "=": value == lit,
        "!=": value != lit,
        ">": value > lit,
        ">=": value >= lit,
        "<": value < lit,
        "<=": value <= lit,
    }
    return bool(results[op])
