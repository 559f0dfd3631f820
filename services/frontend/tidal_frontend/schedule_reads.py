"""Read-only access to schedules (the `schedules` table history writes), and the answers describe
and list give. The document's schema is shared (tidal_schema.schedule_document), so the frontend
reads exactly what history wrote; next action times come from the same spec engine history uses."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tidal_schema.schedule_document import ScheduleAction, ScheduleDocument, SchedulePolicies
from tidal_schema.schedule_times import ScheduleSpecError, next_action_times
from tidal_server.db import tables as t
from tidal_server.visibility import (
    Matcher,
    SearchAttributeType,
    compile_matcher,
    parse,
    registry,
)

from .problems import Problem

__all__ = [
    "DescribeScheduleResponse",
    "ListSchedulesResponse",
    "ScheduleActionResult",
    "ScheduleListEntry",
    "describe",
    "list_page",
    "load",
]

_NEXT_TIMES = 10


class ScheduleActionResult(BaseModel):
    scheduled_at: datetime = Field(description="the nominal time the action was for")
    actual_at: datetime = Field(description="the nominal time plus jitter")
    taken_at: datetime
    workflow_id: str
    run_id: str = Field(description="empty until the run's shard answered")
    failed_to_start: str = ""


class ScheduleRunningWorkflow(BaseModel):
    workflow_id: str
    run_id: str


class ScheduleStateModel(BaseModel):
    paused: bool
    note: str
    limited_actions: bool
    remaining_actions: int


class ScheduleInfoModel(BaseModel):
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    buffer_dropped: int
    buffer_size: int
    running_workflows: list[ScheduleRunningWorkflow]
    recent_actions: list[ScheduleActionResult]
    next_action_times: list[datetime]
    created_at: datetime
    last_updated_at: datetime | None


class DescribeScheduleResponse(BaseModel):
    namespace: str
    schedule_id: str
    spec: dict[str, Any]
    action: ScheduleAction
    policies: SchedulePolicies
    state: ScheduleStateModel
    info: ScheduleInfoModel
    memo: dict[str, Any]
    search_attributes: dict[str, Any] = Field(
        description="the schedule's own (its runs get `action.search_attributes`)"
    )
    conflict_token: int = Field(description="name it in an update to refuse a concurrent change")


class ScheduleListEntry(BaseModel):
    schedule_id: str
    workflow_type: str
    paused: bool
    note: str
    spec: dict[str, Any]
    recent_actions: list[ScheduleActionResult]
    next_action_times: list[datetime]
    memo: dict[str, Any]
    search_attributes: dict[str, Any]


class ListSchedulesResponse(BaseModel):
    schedules: list[ScheduleListEntry]
    next_page_token: str | None = None


async def load(engine: AsyncEngine, namespace: str, schedule_id: str) -> ScheduleDocument:
    s = t.schedules.c
    async with engine.connect() as conn:
        raw = (
            await conn.execute(
                sa.select(s.document).where(s.namespace == namespace, s.schedule_id == schedule_id)
            )
        ).scalar_one_or_none()
    if raw is None:
        raise Problem("not_found", f"schedule {schedule_id!r} not found in namespace {namespace!r}")
    return ScheduleDocument.model_validate(raw)


def _next_times(doc: ScheduleDocument, limit: int) -> list[datetime]:
    if doc.limited_actions and doc.remaining_actions <= 0:
        return []
    try:
        times = next_action_times(
            doc.spec, after=doc.processed_until, schedule_id=doc.schedule_id, limit=limit
        )
    except ScheduleSpecError:
        return []
    return [x.actual for x in times]


def _results(doc: ScheduleDocument) -> list[ScheduleActionResult]:
    return [
        ScheduleActionResult(
            scheduled_at=a.nominal_time,
            actual_at=a.actual_time,
            taken_at=a.taken_at,
            workflow_id=a.workflow_id,
            run_id=a.run_id,
            failed_to_start=a.failed_to_start,
        )
        for a in doc.recent_actions
    ]


def describe(doc: ScheduleDocument) -> DescribeScheduleResponse:
    c = doc.counters
    return DescribeScheduleResponse(
        namespace=doc.namespace,
        schedule_id=doc.schedule_id,
        spec=doc.spec,
        action=doc.action,
        policies=doc.policies,
        state=ScheduleStateModel(
            paused=doc.paused,
            note=doc.note,
            limited_actions=doc.limited_actions,
            remaining_actions=doc.remaining_actions,
        ),
        info=ScheduleInfoModel(
            num_actions=c.actions,
            num_actions_missed_catchup_window=c.missed_catchup,
            num_actions_skipped_overlap=c.skipped_overlap,
            buffer_dropped=c.buffer_dropped,
            buffer_size=len(doc.buffered),
            running_workflows=[
                ScheduleRunningWorkflow(workflow_id=r.workflow_id, run_id=r.run_id) for r in doc.running
            ],
            recent_actions=_results(doc),
            next_action_times=_next_times(doc, _NEXT_TIMES),
            created_at=doc.created_at,
            last_updated_at=doc.updated_at,
        ),
        memo={k: v.model_dump(mode="json") for k, v in doc.memo.items()},
        search_attributes=doc.search_attributes,
        conflict_token=doc.conflict_token,
    )


async def list_page(
    engine: AsyncEngine, namespace: str, *, page_size: int, page_token: str | None, query: str = ""
) -> ListSchedulesResponse:
    """A page of schedules in id order; with `query`, those whose own search attributes (and
    `ScheduleId`, `TemporalSchedulePaused`) match it. Filtering reads the documents in id order,
    at most MAX_SCANNED per call: a page may then be short, with a token to go on from."""
    s = t.schedules.c
    after = _decode(page_token) if page_token else None
    async with engine.connect() as conn:
        matcher = await _matcher(conn, namespace, query)
        chunk = page_size + 1 if matcher is None else _CHUNK
        docs: list[ScheduleDocument] = []
        scanned = 0
        last_scanned: str | None = None
        exhausted = False
        while len(docs) <= page_size and scanned < MAX_SCANNED:
            select = sa.select(s.schedule_id, s.document).where(s.namespace == namespace)
            if after is not None:
                select = select.where(s.schedule_id > after)
            rows = (await conn.execute(select.order_by(s.schedule_id).limit(chunk))).all()
            for row in rows:
                scanned += 1
                after = last_scanned = row.schedule_id
                doc = ScheduleDocument.model_validate(row.document)
                if matcher is None or matcher(_attributes(doc)):
                    docs.append(doc)
                    if len(docs) > page_size:
                        break
            if len(rows) < chunk:
                exhausted = len(docs) <= page_size
                break
    token = None
    if len(docs) > page_size:
        token = _encode(docs[page_size - 1].schedule_id)
    elif not exhausted and last_scanned is not None:
        token = _encode(last_scanned)
    return ListSchedulesResponse(schedules=[_entry(doc) for doc in docs[:page_size]], next_page_token=token)


# Read in chunks while filtering, and at most this many documents per page request, so that a
# filter matching little in a namespace of many schedules answers in bounded time.
_CHUNK = 200
MAX_SCANNED = 5000
_SYSTEM = {"ScheduleId": SearchAttributeType.KEYWORD, "TemporalSchedulePaused": SearchAttributeType.BOOL}


async def _matcher(conn: AsyncConnection, namespace: str, query: str) -> Matcher | None:
    """Raises QueryError (a VisibilityError) for a bad query."""
    if not query.strip():
        return None
    return compile_matcher(parse(query), await registry(conn, namespace), system=_SYSTEM, entity="schedule")


def _attributes(doc: ScheduleDocument) -> dict[str, Any]:
    return {**doc.search_attributes, "ScheduleId": doc.schedule_id, "TemporalSchedulePaused": doc.paused}


def _entry(doc: ScheduleDocument) -> ScheduleListEntry:
    return ScheduleListEntry(
        schedule_id=doc.schedule_id,
        workflow_type=doc.action.workflow_type,
        paused=doc.paused,
        note=doc.note,
        spec=doc.spec,
        recent_actions=_results(doc)[-5:],
        next_action_times=_next_times(doc, 5),
        memo={k: v.model_dump(mode="json") for k, v in doc.memo.items()},
        search_attributes=doc.search_attributes,
    )


def _encode(schedule_id: str) -> str:
    return base64.urlsafe_b64encode(schedule_id.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error):
        raise Problem("invalid_argument", "next_page_token is not a token this API returned") from None
