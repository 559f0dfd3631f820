"""List and count runs (read-only): used by the frontend and the benchmark.

Pages are keyset pages on (start_time, run_id) in the query's direction, so a page deep in a
million runs costs what the first does, and runs started while a client pages never shift it.
The page token is opaque to clients (base64 JSON of the last row's key and the direction).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..db import tables as t
from .attributes import BUILTIN_ATTRIBUTES, SearchAttributeType, VisibilityError, parse_datetime
from .compile import Compiled, compile_query
from .query import QueryError, parse

ex = t.executions


class PageTokenError(VisibilityError):
    """A next_page_token this API did not hand out (or one from a query in the other order)."""


@dataclass(frozen=True, kw_only=True)
class ExecutionSummary:
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: str
    start_time: datetime
    close_time: datetime | None
    history_length: int
    memo: dict[str, Any]
    search_attributes: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Page:
    executions: list[ExecutionSummary]
    next_page_token: str | None


_COLUMNS = (
    ex.c.namespace,
    ex.c.workflow_id,
    ex.c.run_id,
    ex.c.workflow_type,
    ex.c.task_queue,
    ex.c.status,
    ex.c.start_time,
    ex.c.close_time,
    ex.c.next_event_id,
    ex.c.memo,
    ex.c.search_attributes,
)


def encode_token(start_time: datetime, run_id: str, *, descending: bool) -> str:
    raw = json.dumps({"t": start_time.isoformat(), "r": run_id, "d": descending}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, *, descending: bool) -> tuple[datetime, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start, run_id, direction = parse_datetime(data["t"]), str(data["r"]), bool(data["d"])
    except (ValueError, KeyError, TypeError, binascii.Error, VisibilityError):
        raise PageTokenError("next_page_token is not a token this API returned") from None
    if direction != descending:
        raise PageTokenError("next_page_token belongs to a query with the other ORDER BY direction")
    return start, run_id


async def registry(conn: AsyncConnection, namespace: str) -> dict[str, SearchAttributeType]:
    defs = t.search_attribute_defs
    rows = await conn.execute(sa.select(defs.c.name, defs.c.type).where(defs.c.namespace == namespace))
    return {**{r.name: SearchAttributeType(r.type) for r in rows}, **BUILTIN_ATTRIBUTES}


def _compiled(namespace: str, query: str, types: dict[str, SearchAttributeType]) -> tuple[Any, Compiled]:
    compiled = compile_query(parse(query), types)
    return sa.and_(ex.c.namespace == namespace, compiled.where), compiled


@dataclass(frozen=True, kw_only=True)
class Count:
    count: int
    groups: list[tuple[str, int]] | None
    """With GROUP BY ExecutionStatus: (status, count) for each status with runs, most first."""


async def list_executions(
    engine: AsyncEngine, namespace: str, query: str, *, page_size: int, page_token: str | None = None
) -> Page:
    """Raises QueryError / PageTokenError (both VisibilityError) for bad input."""
    async with engine.connect() as conn:
        where, compiled = _compiled(namespace, query, await registry(conn, namespace))
        if compiled.group_by is not None:
            raise QueryError("GROUP BY is for counting only", position=query.upper().find("GROUP"))
        descending = compiled.descending
        key = sa.tuple_(ex.c.start_time, ex.c.run_id)
        stmt = sa.select(*_COLUMNS).where(where)
        if page_token:
            start, run_id = decode_token(page_token, descending=descending)
            after = sa.tuple_(sa.literal(start, ex.c.start_time.type), sa.literal(run_id, sa.Text()))
            stmt = stmt.where(key < after if descending else key > after)
        if descending:
            stmt = stmt.order_by(ex.c.start_time.desc(), ex.c.run_id.desc())
        else:
            stmt = stmt.order_by(ex.c.start_time.asc(), ex.c.run_id.asc())
        # One extra row tells whether another page exists without a count query.
        rows = (await conn.execute(stmt.limit(page_size + 1))).all()
    more = len(rows) > page_size
    items = [
        ExecutionSummary(
            namespace=r.namespace,
            workflow_id=r.workflow_id,
            run_id=r.run_id,
            workflow_type=r.workflow_type,
            task_queue=r.task_queue,
            status=r.status,
            start_time=r.start_time,
            close_time=r.close_time,
            history_length=max(int(r.next_event_id) - 1, 0),
            memo=r.memo or {},
            search_attributes=r.search_attributes or {},
        )
        for r in rows[:page_size]
    ]
    token = None
    if more and items:
        token = encode_token(items[-1].start_time, items[-1].run_id, descending=descending)
    return Page(executions=items, next_page_token=token)


async def count_executions(engine: AsyncEngine, namespace: str, query: str) -> int:
    return (await count_grouped(engine, namespace, query)).count


async def count_grouped(engine: AsyncEngine, namespace: str, query: str) -> Count:
    """The count, and with `GROUP BY ExecutionStatus` the count per status, in one scan."""
    async with engine.connect() as conn:
        where, compiled = _compiled(namespace, query, await registry(conn, namespace))
        if compiled.group_by is None:
            result = await conn.execute(sa.select(sa.func.count()).select_from(ex).where(where))
            return Count(count=int(result.scalar_one()), groups=None)
        n = sa.func.count().label("n")
        rows = (await conn.execute(sa.select(ex.c.status, n).where(where).group_by(ex.c.status))).all()
    groups = sorted(((str(r.status), int(r.n)) for r in rows), key=lambda g: (-g[1], g[0]))
    return Count(count=sum(c for _, c in groups), groups=groups)
