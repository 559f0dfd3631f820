"""Keep a run's search attributes listable: typed rows written in the batch's transaction.

A new run indexes the attributes it started with; `UpsertWorkflowSearchAttributes` events in
the batch (from `workflow.upsert_search_attributes`) merge into the row's JSON document and
replace the typed rows of the names they mention (a None value removes the attribute).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection
from tidal_schema import events as ev
from tidal_server.visibility.writer import index_attributes, upsert_attributes

if TYPE_CHECKING:
    from .store import RunWrite


async def write_visibility(conn: AsyncConnection, insert: Callable[..., Any], w: RunWrite) -> None:
    st = w.state
    key = {"namespace": st.namespace, "workflow_id": st.workflow_id, "run_id": st.run_id}
    if w.old_version is None and w.search_attributes:
        await index_attributes(conn, insert, **key, changes=w.search_attributes, new_run=True)
    changes: dict[str, Any] = {}
    for e in w.events:
        if isinstance(e.attributes, ev.UpsertWorkflowSearchAttributes):
            changes.update(e.attributes.search_attributes)
    if changes:
        await upsert_attributes(conn, insert, **key, changes=changes)
