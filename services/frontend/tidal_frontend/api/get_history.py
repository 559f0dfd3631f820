"""GET /api/v1/namespaces/{ns}/workflows/{workflow_id}/history: a run's events, paged by event id.

`next_page_token` is the last returned event id (as a string) when more events may follow, else
null. Pages are keyset pages (event_id > token), so they stay consistent while the run grows: a
client that reaches the end of a running workflow's history can keep the last token and ask again
later for the newer events.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from tidal_schema import HistoryEvent

from ..context import Ctx
from ..problems import Problem
from .models import NamespacePath, RunIdQuery, WorkflowIdPath, not_found

MAX_PAGE_SIZE = 1000


class HistoryPage(BaseModel):
    run_id: str
    events: list[HistoryEvent]
    next_page_token: str | None


async def get_history(
    ctx: Ctx,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    run_id: RunIdQuery = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    next_page_token: Annotated[str | None, Query(description="from the previous page")] = None,
) -> Any:
    after = 0
    if next_page_token:
        if not next_page_token.isdigit():
            raise Problem("invalid_argument", "next_page_token is not a token this API returned")
        after = int(next_page_token)
    row = await ctx.store.execution(namespace, workflow_id, run_id or None)
    if row is None:
        raise not_found(namespace, workflow_id, run_id)
    # One extra row tells whether another page exists without a count query.
    events = await ctx.store.events(
        namespace, workflow_id, row.run_id, after_event_id=after, limit=page_size + 1
    )
    more = len(events) > page_size
    events = events[:page_size]
    token = str(events[-1]["event_id"]) if more and events else None
    # The stored documents already are serialized HistoryEvents: hand them out as they are
    # rather than validating and re-serializing every event (`HistoryPage` documents the shape).
    return JSONResponse({"run_id": row.run_id, "events": events, "next_page_token": token})
