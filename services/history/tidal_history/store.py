"""History's Postgres/SQLite I/O: load runs, commit a batch in one fenced transaction, outbox.

The batch itself is written by batch_pg.py on Postgres (asyncpg directly, one statement per
table) and by batch_sql.py elsewhere (SQLAlchemy Core, the embedded mode's SQLite); reads run
without a transaction (`tidal_server.db.raw.autocommit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import HistoryEvent, WorkflowExecutionStatus
from tidal_server.db import tables as t
from tidal_server.db.raw import autocommit

from . import batch_pg, batch_sql
from .api.start_workflow import CurrentRun
from .state import MutableState
from .store_types import (
    LoadedRun,
    PendingOutbox,
    RunWrite,
    ShardLostError,
    StoreError,
    VersionConflictError,
)

__all__ = [
    "HistoryStore",
    "LoadedRun",
    "PendingOutbox",
    "RunWrite",
    "ShardLostError",
    "StoreError",
    "VersionConflictError",
]

# The fence: the first statement of every batch transaction (which SQLAlchemy's adapter begins
# with it), so the raw statements of batch_pg.py that follow run inside it.
_FENCE = "UPDATE shards SET range_id = $1 WHERE shard_id = $2 AND range_id = $1"


class HistoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = autocommit(engine)
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._pg = dialect == "postgresql"

    # --- shard ownership ------------------------------------------------------------------

    async def acquire_shard(self, shard_id: int, owner: str) -> int:
        """Take the shard by bumping its fencing token; returns the new range_id."""
        async with self._engine.begin() as conn:
            ins = self._insert(t.shards).values(shard_id=shard_id, range_id=1, owner=owner)
            await conn.execute(ins.on_conflict_do_nothing(index_elements=["shard_id"]))
            row = (
                await conn.execute(
                    sa.update(t.shards)
                    .where(t.shards.c.shard_id == shard_id)
                    .values(
                        range_id=t.shards.c.range_id + 1, owner=owner, updated_at=sa.func.current_timestamp()
                    )
                    .returning(t.shards.c.range_id)
                )
            ).one()
            return int(row[0])

    # --- reads ----------------------------------------------------------------------------

    async def load_current(self, namespace: str, workflow_id: str) -> CurrentRun | None:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        t.current_executions.c.run_id,
                        t.current_executions.c.status,
                        t.current_executions.c.start_request_id,
                    ).where(
                        t.current_executions.c.namespace == namespace,
                        t.current_executions.c.workflow_id == workflow_id,
                    )
                )
            ).first()
        if row is None:
            return None
        return CurrentRun(
            run_id=row.run_id,
            status=WorkflowExecutionStatus(row.status),
            start_request_id=row.start_request_id,
        )

    async def load_run(self, namespace: str, workflow_id: str, run_id: str) -> LoadedRun | None:
        # Read as text and parsed by pydantic: one parse instead of two, and the sizes for free.
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        sa.cast(t.executions.c.state, sa.Text).label("state"), t.executions.c.version
                    ).where(
                        t.executions.c.namespace == namespace,
                        t.executions.c.workflow_id == workflow_id,
                        t.executions.c.run_id == run_id,
                    )
                )
            ).first()
            if row is None:
                return None
            rows = (
                await conn.execute(
                    sa.select(sa.cast(t.history_events.c.data, sa.Text).label("data"))
                    .where(
                        t.history_events.c.namespace == namespace,
                        t.history_events.c.workflow_id == workflow_id,
                        t.history_events.c.run_id == run_id,
                    )
                    .order_by(t.history_events.c.event_id)
                )
            ).all()
        events = [HistoryEvent.model_validate_json(r.data) for r in rows]
        return LoadedRun(
            state=MutableState.model_validate_json(row.state),
            version=int(row.version),
            events=events,
            state_chars=len(row.state),
            events_chars=sum(len(r.data) for r in rows),
        )

    async def pending_outbox(self, shard_id: int, limit: int = 1000) -> list[PendingOutbox]:
        async with self._autocommit.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        t.outbox.c.seq,
                        t.outbox.c.exchange,
                        t.outbox.c.routing_key,
                        t.outbox.c.body,
                        t.outbox.c.headers,
                    )
                    .where(t.outbox.c.shard_id == shard_id)
                    .order_by(t.outbox.c.seq)
                    .limit(limit)
                )
            ).all()
        return [
            PendingOutbox(
                seq=r.seq,
                exchange=r.exchange,
                routing_key=r.routing_key,
                body=bytes(r.body),
                headers=r.headers or {},
            )
            for r in rows
        ]

    async def delete_outbox(self, seqs: Sequence[int]) -> None:
        if seqs:
            # One statement: atomic without a transaction around it (autocommit on Postgres).
            async with self._autocommit.begin() as conn:
                await conn.execute(sa.delete(t.outbox).where(t.outbox.c.seq.in_(list(seqs))))

    # --- the batch commit -----------------------------------------------------------------

    async def commit(
        self, *, shard_id: int, range_id: int, writes: Sequence[RunWrite], published_seqs: Sequence[int] = ()
    ) -> list[PendingOutbox]:
        """One transaction for the whole batch; returns the outbox rows to publish, in order."""
        async with self._engine.begin() as conn:
            if self._pg:
                fenced = await conn.exec_driver_sql(_FENCE, (range_id, shard_id))
            else:
                fenced = await conn.execute(
                    sa.update(t.shards)
                    .where(t.shards.c.shard_id == shard_id, t.shards.c.range_id == range_id)
                    .values(range_id=range_id)
                )
            if fenced.rowcount != 1:
                raise ShardLostError(shard_id)
            write = batch_pg.write_batch if self._pg else batch_sql.write_batch
            return await write(
                conn, insert=self._insert, shard_id=shard_id, writes=writes, published_seqs=published_seqs
            )

    async def namespace_retention(self, namespace: str) -> timedelta | None:
        """The namespace's retention now, or None if the namespace is gone."""
        async with self._autocommit.connect() as conn:
            days = (
                await conn.execute(
                    sa.select(t.namespaces.c.retention_days).where(t.namespaces.c.name == namespace)
                )
            ).scalar()
        return None if days is None else timedelta(days=days)
