"""Keep a run's search attributes listable: typed rows written in the batch's transaction.

A new run indexes the attributes it started with (from the start request, or from its
`WorkflowExecutionStarted` event for runs history starts itself, e.g. continue-as-new
successors); `UpsertWorkflowSearchAttributes` events in the batch (from
`workflow.upsert_search_attributes`) merge into the row's JSON document and replace the typed
rows of the names they mention (a None value removes the attribute).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection
from tidal_schema import HistoryEvent
from tidal_schema import events as ev
from tidal_server.visibility.writer import index_attributes, merge, set_document, upsert_attributes

if TYPE_CHECKING:
    from .store_types import RunWrite


def current_search_attributes(history: Iterable[HistoryEvent]) -> dict[str, Any]:
    """A run's attributes as its events leave them (what continue-as-new carries over, as
    Temporal does)."""
    attrs: dict[str, Any] = {}
    for e in history:
        a = e.attributes
        if isinstance(a, ev.WorkflowExecutionStarted):
            attrs = dict(a.search_attributes)
        elif isinstance(a, ev.UpsertWorkflowSearchAttributes):
            attrs = merge(attrs, a.search_attributes)
    return attrs


async def write_visibility(conn: AsyncConnection, insert: Callable[..., Any], w: RunWrite) -> None:
    st = w.state
    key = {"namespace": st.namespace, "workflow_id": st.workflow_id, "run_id": st.run_id}
    if w.old_version is None:
        initial = w.search_attributes
        if not initial and w.events and isinstance(w.events[0].attributes, ev.WorkflowExecutionStarted):
            initial = dict(w.events[0].attributes.search_attributes)
            if initial:  # the row went in without them
                await set_document(conn, **key, document=initial)
        if initial:
            await index_attributes(conn, insert, **key, changes=initial, new_run=True)
    changes: dict[str, Any] = {}
    for e in w.events:
        if isinstance(e.attributes, ev.UpsertWorkflowSearchAttributes):
            changes.update(e.attributes.search_attributes)
    if changes:
        await upsert_attributes(conn, insert, **key, changes=changes)
