"""Read-only database access: the frontend never writes (history is the only writer).

Reads go straight to the tables history maintains (`executions`, `current_executions`,
`history_events`); each function is one short statement on a pooled connection, so a long poll
never holds a connection while it waits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import WorkflowExecutionStatus
from tidal_schema.run_document import RunDocument
from tidal_server.db import history_events as he
from tidal_server.db.raw import autocommit, is_postgres, pg_connection, sqlite_connection


@dataclass(frozen=True, kw_only=True)
class ExecutionRow:
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    close_time: datetime | None
    next_event_id: int
    state: dict[str, Any]
    memo: dict[str, Any]
    search_attributes: dict[str, Any]
    result: Any

    @property
    def running(self) -> bool:
        return self.status is WorkflowExecutionStatus.RUNNING

    def document(self) -> RunDocument | None:
        """The run's state document read with its shared schema (history writes it; the frontend
        never looks keys up in it by hand), or None when it does not read: a corrupt row, or a
        shape from another release that does not validate."""
        try:
            return RunDocument.model_validate(self.state)
        except ValidationError:
            return None


# The hot read (every result long poll, describe, query, update) as one prepared asyncpg
# statement: SQLAlchemy Core's per-statement work (cache key, compilation lookup, result
# processing) cost more CPU than the read itself. The documents come as text (the engine's
# codecs are SQLAlchemy's) and are parsed once here, as SQLAlchemy parsed them.
_PG_SELECT = (
    "SELECT e.namespace, e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status,"
    " e.start_time, e.close_time, e.next_event_id, e.state::text AS state, e.memo::text AS memo,"
    " e.search_attributes::text AS search_attributes, e.result::text AS result FROM executions e"
)
_PG_BY_RUN = f"{_PG_SELECT} WHERE e.namespace = $1 AND e.workflow_id = $2 AND e.run_id = $3"
_PG_CURRENT = (
    f"{_PG_SELECT} JOIN current_executions c ON c.namespace = e.namespace"
    " AND c.workflow_id = e.workflow_id AND c.run_id = e.run_id"
    " WHERE e.namespace = $1 AND e.workflow_id = $2"
)

# The same read on SQLite's driver (the embedded mode: every result long poll and describe):
# SQLAlchemy's statement work was about as much CPU as a history batch's whole write. Values
# come back as SQLAlchemy's SQLite types would hand them back: UTC text -> aware datetimes,
# JSON text -> parsed documents (test_sqlite_reads.py compares the two readers).
_SQLITE_SELECT = (
    "SELECT e.namespace, e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status,"
    " e.start_time, e.close_time, e.next_event_id, e.state, e.memo, e.search_attributes, e.result"
    " FROM executions e"
)
_SQLITE_BY_RUN = f"{_SQLITE_SELECT} WHERE e.namespace = ? AND e.workflow_id = ? AND e.run_id = ?"
_SQLITE_CURRENT = (
    f"{_SQLITE_SELECT} JOIN current_executions c ON c.namespace = e.namespace"
    " AND c.workflow_id = e.workflow_id AND c.run_id = e.run_id"
    " WHERE e.namespace = ? AND e.workflow_id = ?"
)


def _sqlite_time(text: str) -> datetime:
    """UTCDateTime's SQLite text (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _document(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class ReadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._base_engine = engine

    @cached_property
    def _engine(self) -> AsyncEngine:
        # One statement per read: no BEGIN, and no ROLLBACK when the connection goes back.
        return autocommit(self._base_engine)

    async def execution(self, namespace: str, workflow_id: str, run_id: str | None) -> ExecutionRow | None:
        """The given run, or (run_id None) the run `current_executions` points at."""
        if is_postgres(self._base_engine):
            return await self._pg_execution(namespace, workflow_id, run_id)
        async with sqlite_connection(self._base_engine) as db:
            if run_id:
                cursor = await db.execute(_SQLITE_BY_RUN, (namespace, workflow_id, run_id))
            else:
                cursor = await db.execute(_SQLITE_CURRENT, (namespace, workflow_id))
            row = await cursor.fetchone()
            await cursor.close()
        if row is None:
            return None
        return ExecutionRow(
            namespace=row[0],
            workflow_id=row[1],
            run_id=row[2],
            workflow_type=row[3],
            task_queue=row[4],
            status=WorkflowExecutionStatus(row[5]),
            start_time=_sqlite_time(row[6]),
            close_time=None if row[7] is None else _sqlite_time(row[7]),
            next_event_id=int(row[8]),
            state=_document(row[9]) or {},
            memo=_document(row[10]) or {},
            search_attributes=_document(row[11]) or {},
            result=_document(row[12]),
        )

    async def _pg_execution(
        self, namespace: str, workflow_id: str, run_id: str | None
    ) -> ExecutionRow | None:
        async with pg_connection(self._base_engine) as db:
            if run_id:
                row = await db.fetchrow(_PG_BY_RUN, namespace, workflow_id, run_id)
            else:
                row = await db.fetchrow(_PG_CURRENT, namespace, workflow_id)
        if row is None:
            return None
        return ExecutionRow(
            namespace=row["namespace"],
            workflow_id=row["workflow_id"],
            run_id=row["run_id"],
            workflow_type=row["workflow_type"],
            task_queue=row["task_queue"],
            status=WorkflowExecutionStatus(row["status"]),
            start_time=row["start_time"],
            close_time=row["close_time"],
            next_event_id=int(row["next_event_id"]),
            state=_document(row["state"]) or {},
            memo=_document(row["memo"]) or {},
            search_attributes=_document(row["search_attributes"]) or {},
            result=_document(row["result"]),
        )

    async def events(
        self, namespace: str, workflow_id: str, run_id: str, *, after_event_id: int, limit: int
    ) -> list[dict[str, Any]]:
        """Serialized `HistoryEvent`s with event_id > after_event_id, in order (keyset paging:
        stable and index-backed however deep the page)."""
        query = (
            sa.select(he.c.data)
            .where(
                he.c.namespace == namespace,
                he.c.workflow_id == workflow_id,
                he.c.run_id == run_id,
                he.c.event_id > after_event_id,
            )
            .order_by(he.c.event_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [dict(r.data) for r in (await conn.execute(query)).all()]

    async def event(
        self, namespace: str, workflow_id: str, run_id: str, event_id: int
    ) -> dict[str, Any] | None:
        query = sa.select(he.c.data).where(
            he.c.namespace == namespace,
            he.c.workflow_id == workflow_id,
            he.c.run_id == run_id,
            he.c.event_id == event_id,
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else dict(row.data)

    async def task_queue_names(self, namespace: str, *, after: str, limit: int) -> list[str]:
        """The distinct task queues of the namespace's runs, in name order, after `after`.

        A skip scan: one index probe (`ix_executions_ns_tq_start`) per name, however many runs
        share it, so a page costs `limit` probes on a namespace of any size (a plain DISTINCT
        would read every run). Written with min() so SQLite and Postgres both take the index."""
        probe = "SELECT min(e.task_queue) FROM executions e WHERE e.namespace = :ns AND e.task_queue > {prev}"
        query = sa.text(
            "WITH RECURSIVE tq(name, n) AS ("
            f" SELECT ({probe.format(prev=':after')}), 1"
            f" UNION ALL SELECT ({probe.format(prev='tq.name')}), tq.n + 1"
            " FROM tq WHERE tq.name IS NOT NULL AND tq.n < :limit"
            ") SELECT name FROM tq WHERE name IS NOT NULL"
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query, {"ns": namespace, "after": after, "limit": limit})
            return [r.name for r in rows.all()]

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
