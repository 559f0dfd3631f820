"""History's side of visibility: keep a run's search attributes queryable.

Called inside history's batch transaction, so the JSON document on `executions`, the typed rows
in `search_attribute_values` and the event that changed them commit together. A value that does
not fit the attribute's registered type stays in the JSON document (describe shows it) but gets
no typed row, so filters do not match it; the SDK and the frontend validate earlier, so this is
only reached by a type registered differently by another run first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import tables as t
from .attributes import (
    BUILTIN_ATTRIBUTES,
    VALUE_COLUMN,
    SearchAttributeType,
    VisibilityError,
    check_name,
    coerce,
    infer_type,
)

log = logging.getLogger("tidal.visibility")

ex = t.executions
defs = t.search_attribute_defs
sav = t.search_attribute_values
_VALUE_COLUMNS = ("str_value", "text_value", "int_value", "double_value", "time_value")


def merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Upsert semantics: a None value removes the attribute."""
    merged = dict(current)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


async def register_types(
    conn: AsyncConnection, insert: Callable[..., Any], namespace: str, values: Mapping[str, Any]
) -> dict[str, SearchAttributeType]:
    """The namespace's types of `values`' names, registering the new ones (inferred from the
    value; a name or value with no type is logged and skipped)."""
    # Sorted: two shards registering the same new names insert them in the same order, so they
    # wait on each other's unique-index entry instead of deadlocking.
    builtin = {
        n: BUILTIN_ATTRIBUTES[n] for n, v in values.items() if v is not None and n in BUILTIN_ATTRIBUTES
    }
    names = sorted(n for n, v in values.items() if v is not None and n not in BUILTIN_ATTRIBUTES)
    if not names:
        return builtin
    query = sa.select(defs.c.name, defs.c.type).where(defs.c.namespace == namespace, defs.c.name.in_(names))
    known = {r.name: r.type for r in await conn.execute(query)}
    new = []
    for name in names:
        if name in known:
            continue
        try:
            check_name(name)
            new.append({"namespace": namespace, "name": name, "type": infer_type(values[name]).value})
        except VisibilityError as exc:
            log.warning("search attribute %r not indexed: %s", name, exc)
    if new:
        # Another shard may register the same name concurrently: the first type wins.
        await conn.execute(insert(defs).on_conflict_do_nothing(index_elements=["namespace", "name"]), new)
        known = {r.name: r.type for r in await conn.execute(query)}
    return {**{n: SearchAttributeType(k) for n, k in known.items()}, **builtin}


async def index_attributes(
    conn: AsyncConnection,
    insert: Callable[..., Any],
    *,
    namespace: str,
    workflow_id: str,
    run_id: str,
    changes: Mapping[str, Any],
    new_run: bool,
) -> None:
    """Write the typed rows for `changes` (None: remove). `insert` is the dialect's insert
    (postgresql.insert or sqlite.insert), for ON CONFLICT."""
    if not changes:
        return
    key = {"namespace": namespace, "workflow_id": workflow_id, "run_id": run_id}
    types = await register_types(conn, insert, namespace, changes)
    if not new_run:
        await conn.execute(
            sa.delete(sav).where(
                sav.c.namespace == namespace,
                sav.c.workflow_id == workflow_id,
                sav.c.run_id == run_id,
                sav.c.name.in_(list(changes)),
            )
        )
    rows = []
    for name, value in changes.items():
        kind = types.get(name)
        if value is None or kind is None:
            continue
        try:
            typed = coerce(value, kind)
        except VisibilityError as exc:
            log.warning("search attribute %r of run %s not indexed: %s", name, run_id, exc)
            continue
        row: dict[str, Any] = {**key, "name": name, **dict.fromkeys(_VALUE_COLUMNS)}
        row[VALUE_COLUMN[kind]] = typed
        rows.append(row)
    if rows:
        await conn.execute(sa.insert(sav), rows)


async def set_document(
    conn: AsyncConnection, *, namespace: str, workflow_id: str, run_id: str, document: Mapping[str, Any]
) -> None:
    """Replace the run's JSON attribute document (display copy; typed rows are separate)."""
    where = (ex.c.namespace == namespace, ex.c.workflow_id == workflow_id, ex.c.run_id == run_id)
    await conn.execute(sa.update(ex).where(*where).values(search_attributes=dict(document)))


async def upsert_attributes(
    conn: AsyncConnection,
    insert: Callable[..., Any],
    *,
    namespace: str,
    workflow_id: str,
    run_id: str,
    changes: Mapping[str, Any],
) -> None:
    """Apply upserts to an existing row: merge the JSON document, then the typed rows."""
    where = (ex.c.namespace == namespace, ex.c.workflow_id == workflow_id, ex.c.run_id == run_id)
    current = (await conn.execute(sa.select(ex.c.search_attributes).where(*where))).scalar_one_or_none()
    merged = merge(current or {}, changes)
    await conn.execute(sa.update(ex).where(*where).values(search_attributes=merged))
    await index_attributes(
        conn,
        insert,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        changes=changes,
        new_run=False,
    )
