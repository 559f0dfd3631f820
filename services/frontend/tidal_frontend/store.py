"""Read-only database access: the frontend never writes (history is the only writer).

Reads go straight to the tables history maintains (`executions`, `current_executions`,
`history_events`); each function is one short statement on a pooled connection, so a long poll
never holds a connection while it waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import WorkflowExecutionStatus
from tidal_schema.run_document import RunDocument
from tidal_server.db import current_executions as ce
from tidal_server.db import executions as ex
from tidal_server.db import history_events as he
from tidal_server.db.raw import autocommit


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
    ex.c.state,
    ex.c.memo,
    ex.c.search_attributes,
    ex.c.result,
)


class ReadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._base_engine = engine

    @cached_property
    def _engine(self) -> AsyncEngine:
        # One statement per read: no BEGIN, and no ROLLBACK when the connection goes back.
        return autocommit(self._base_engine)

    async def execution(self, namespace: str, workflow_id: str, run_id: str | None) -> ExecutionRow | None:
        """The given run, or (run_id None) the run `current_executions` points at."""
        query = sa.select(*_COLUMNS).where(ex.c.namespace == namespace, ex.c.workflow_id == workflow_id)
        if run_id:
            query = query.where(ex.c.run_id == run_id)
        else:
            query = query.join(
                ce,
                sa.and_(
                    ce.c.namespace == ex.c.namespace,
                    ce.c.workflow_id == ex.c.workflow_id,
                    ce.c.run_id == ex.c.run_id,
                ),
            )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ExecutionRow(
            namespace=row.namespace,
            workflow_id=row.workflow_id,
            run_id=row.run_id,
            workflow_type=row.workflow_type,
            task_queue=row.task_queue,
            status=WorkflowExecutionStatus(row.status),
            start_time=row.start_time,
            close_time=row.close_time,
            next_event_id=int(row.next_event_id),
            state=row.state or {},
            memo=row.memo or {},
            search_attributes=row.search_attributes or {},
            result=row.result,
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
