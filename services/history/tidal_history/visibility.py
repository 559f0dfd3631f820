"""Keep a run's search attributes listable: typed rows written in the batch's transaction.

A new run indexes the attributes it started with (from the start request, or from its
`WorkflowExecutionStarted` event for runs history starts itself, e.g. continue-as-new
successors); `UpsertWorkflowSearchAttributes` events in the batch (from
`workflow.upsert_search_attributes`) merge into the row's JSON document and replace the typed
rows of the names they mention (a None value removes the attribute).

The memo is a column of the run's row too: `WorkflowPropertiesModified` events (from
`workflow.upsert_memo`) rewrite it with the memo their run's events leave (`memo.current_memo`).
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


def memo_modified(events: Iterable[HistoryEvent]) -> bool:
    return any(isinstance(e.attributes, ev.WorkflowPropertiesModified) for e in events)


def _started_with(w: RunWrite) -> dict[str, Any]:
    """A new run's attributes from its WorkflowExecutionStarted (runs history starts itself)."""
    if w.old_version is None and w.events and isinstance(w.events[0].attributes, ev.WorkflowExecutionStarted):
        return dict(w.events[0].attributes.search_attributes)
    return {}


def _upserts(w: RunWrite) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for e in w.events:
        if isinstance(e.attributes, ev.UpsertWorkflowSearchAttributes):
            changes.update(e.attributes.search_attributes)
    return changes


def needs_visibility(w: RunWrite) -> bool:
    """Whether `write_visibility` has anything to write for `w` (most batches have nothing, and
    the store's Postgres path then needs no SQLAlchemy connection)."""
    return bool((w.old_version is None and (w.search_attributes or _started_with(w))) or _upserts(w))


async def write_visibility(conn: AsyncConnection, insert: Callable[..., Any], w: RunWrite) -> None:
    st = w.state
    key = {"namespace": st.namespace, "workflow_id": st.workflow_id, "run_id": st.run_id}
    if w.old_version is None:
        initial = w.search_attributes
        if not initial:
            initial = _started_with(w)
            if initial:  # the row went in without them
                await set_document(conn, **key, document=initial)
        if initial:
            await index_attributes(conn, insert, **key, changes=initial, new_run=True)
    changes = _upserts(w)
    if changes:
        await upsert_attributes(conn, insert, **key, changes=changes)
