"""History's Postgres/SQLite I/O: load runs, commit a batch in one fenced transaction, outbox.

On Postgres the hot path is asyncpg directly (tidal_server.db.raw): the batch in one statement
(batch_pg.py's call of `tidal_write_batch`, in that statement's own transaction), and the reads
of a batch's starts or a cache miss as prepared statements outside any transaction. SQLite (the
embedded mode) writes the common batch and reads runs on its driver's connection too
(batch_sqlite.py), and the rest through SQLAlchemy Core (batch_sql.py).
docs/performance.md#history-hot-path, #history-round-trips and #embedded-mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import HistoryEvent, WorkflowExecutionStatus
from tidal_server.db import tables as t
from tidal_server.db.held import HeldConnections
from tidal_server.db.raw import autocommit, driver_connection, sqlite_connection, sqlite_transaction

from . import batch_pg, batch_sql, batch_sqlite
from .mutation import Outgoing
from .operation import CurrentRun
from .schedule_store import LoadedSchedule, ScheduleWrite, load_schedule, write_schedules
from .state import MutableState
from .store_types import (
    LoadedRun,
    PendingOutbox,
    RunWrite,
    ShardLostError,
    StoreError,
    VersionConflictError,
)
from .table_stats import FirstStatistics
from .visibility import needs_visibility, write_visibility

__all__ = [
    "HistoryStore",
    "LoadedRun",
    "PendingOutbox",
    "RunWrite",
    "ShardLostError",
    "StoreError",
    "VersionConflictError",
]

# The fence: the first statement of every batch transaction; a stale owner updates no row.
_FENCE = "UPDATE shards SET range_id = $1 WHERE shard_id = $2 AND range_id = $1"
_SQLITE_FENCE = "UPDATE shards SET range_id = ? WHERE shard_id = ? AND range_id = ?"
_LOAD_CURRENT = (
    "SELECT run_id, status, start_request_id FROM current_executions"
    " WHERE namespace = $1 AND workflow_id = $2"
)
# Every start of a batch in one read (the workflow ids that are not there come back as no row):
# the join of the keys to `current_executions` inside a function (migration 0006) planned for
# these keys each time, not a plan cached while the table was empty.
_LOAD_CURRENTS = (
    "SELECT namespace, workflow_id, run_id, status, start_request_id"
    " FROM tidal_load_currents($1::text[], $2::text[])"
)
_LOAD_RUN = (
    "SELECT state::text AS state, version FROM executions"
    " WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3"
)
_LOAD_EVENTS = (
    "SELECT data::text AS data FROM history_events"
    " WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3 ORDER BY event_id"
)
# SQLite keeps JSON as text: read as stored.
_LOAD_CURRENT_SQLITE = (
    "SELECT run_id, status, start_request_id FROM current_executions WHERE namespace = ? AND workflow_id = ?"
)
_LOAD_RUN_SQLITE = (
    "SELECT state, version FROM executions WHERE namespace = ? AND workflow_id = ? AND run_id = ?"
)
_LOAD_EVENTS_SQLITE = (
    "SELECT data FROM history_events WHERE namespace = ? AND workflow_id = ? AND run_id = ? ORDER BY event_id"
)
_PENDING_OUTBOX = (
    "SELECT seq, exchange, routing_key, body, headers::text AS headers FROM outbox"
    " WHERE shard_id = $1 ORDER BY seq LIMIT $2"
)


class HistoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = autocommit(engine)
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._pg = dialect == "postgresql"
        # The hot path's connections (reads of a batch's starts and cache misses, the batch commit,
        # the outbox's relay and deletes), held instead of checked out each time (db/held.py).
        self._held = HeldConnections(engine)
        # The hot tables' first ANALYZE once they hold rows (table_stats.py; run by the service).
        self.statistics = FirstStatistics(engine)

    async def close(self) -> None:
        """Give the held connections back to the engine's pool (the service's stop)."""
        await self._held.close()

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
        if self._pg:
            async with self._held.connection() as db:
                row = await db.fetchrow(_LOAD_CURRENT, namespace, workflow_id)
        else:
            row = await self._load_current_sql(namespace, workflow_id)
        if row is None:
            return None
        return CurrentRun(
            run_id=row["run_id"],
            status=WorkflowExecutionStatus(row["status"]),
            start_request_id=row["start_request_id"],
        )

    async def load_currents(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], CurrentRun]:
        """The current run of each (namespace, workflow id) that has one: on Postgres one read
        for all of them (a batch's starts), on SQLite one each."""
        if not self._pg:
            found = {k: await self.load_current(*k) for k in keys}
            return {k: c for k, c in found.items() if c is not None}
        async with self._held.connection() as db:
            rows = await db.fetch(_LOAD_CURRENTS, [k[0] for k in keys], [k[1] for k in keys])
        return {
            (r["namespace"], r["workflow_id"]): CurrentRun(
                run_id=r["run_id"],
                status=WorkflowExecutionStatus(r["status"]),
                start_request_id=r["start_request_id"],
            )
            for r in rows
        }

    async def _load_current_sql(self, namespace: str, workflow_id: str) -> Any:
        # On the driver's connection leased from the one-connection pool, as the batch writer
        # (batch_sqlite.py): a read of text columns needs none of SQLAlchemy's result processing,
        # nor its connection objects (about 60 us of CPU per checkout).
        async with sqlite_connection(self._engine) as db:
            async with db.execute(_LOAD_CURRENT_SQLITE, (namespace, workflow_id)) as cursor:
                row = await cursor.fetchone()
        if row is None:
            return None
        return {"run_id": row[0], "status": row[1], "start_request_id": row[2]}

    async def load_run(self, namespace: str, workflow_id: str, run_id: str) -> LoadedRun | None:
        # Read as text and parsed by pydantic: one parse instead of two, and the sizes for free.
        if self._pg:
            async with self._held.connection() as db:
                run = await db.fetchrow(_LOAD_RUN, namespace, workflow_id, run_id)
                if run is None:
                    return None
                state, version = run["state"], run["version"]
                data = [r["data"] for r in await db.fetch(_LOAD_EVENTS, namespace, workflow_id, run_id)]
        else:
            loaded = await self._load_run_sql(namespace, workflow_id, run_id)
            if loaded is None:
                return None
            state, version, data = loaded
        return LoadedRun(
            state=MutableState.model_validate_json(state),
            version=int(version),
            events=[HistoryEvent.model_validate_json(d) for d in data],
            state_chars=len(state),
            events_chars=sum(len(d) for d in data),
        )

    async def _load_run_sql(
        self, namespace: str, workflow_id: str, run_id: str
    ) -> tuple[str, int, list[str]] | None:
        key = (namespace, workflow_id, run_id)
        async with sqlite_connection(self._engine) as db:
            async with db.execute(_LOAD_RUN_SQLITE, key) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            async with db.execute(_LOAD_EVENTS_SQLITE, key) as cursor:
                rows = await cursor.fetchall()
        return row[0], int(row[1]), [r[0] for r in rows]

    async def pending_outbox(self, shard_id: int, limit: int = 1000) -> list[PendingOutbox]:
        if self._pg:
            async with self._held.connection() as db:
                rows = await db.fetch(_PENDING_OUTBOX, shard_id, limit)
            return [
                PendingOutbox(
                    seq=r["seq"],
                    exchange=r["exchange"],
                    routing_key=r["routing_key"],
                    body=bytes(r["body"]),
                    headers=json.loads(r["headers"]) if r["headers"] else {},
                )
                for r in rows
            ]
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
        if seqs and self._pg:
            async with self._held.connection() as db:
                await db.execute(batch_pg.DELETE_PUBLISHED, list(seqs))
        elif seqs:
            async with self._engine.begin() as conn:
                await conn.execute(sa.delete(t.outbox).where(t.outbox.c.seq.in_(list(seqs))))

    # --- the batch commit -----------------------------------------------------------------

    async def commit(
        self,
        *,
        shard_id: int,
        range_id: int,
        writes: Sequence[RunWrite],
        published_seqs: Sequence[int] = (),
        schedules: Sequence[ScheduleWrite] = (),
    ) -> list[PendingOutbox]:
        """One transaction for the whole batch; returns the outbox rows to publish, in order."""
        if self._pg and not schedules and not any(needs_visibility(w) or w.purge for w in writes):
            # The common case: the fence and the batch in one statement (batch_pg's function
            # call), in that statement's own transaction: one round trip, no SQLAlchemy.
            async with self._held.connection() as db:
                pending = await batch_pg.write_batch_in_one_call(
                    db, shard_id=shard_id, range_id=range_id, writes=writes, published_seqs=published_seqs
                )
            self.statistics.note_new_runs(sum(w.old_version is None for w in writes))
            return pending
        if not self._pg and not schedules and not any(w.purge or needs_visibility(w) for w in writes):
            # The common batch on SQLite: the fence and the batch on the driver's connection, in
            # a transaction begun and committed by hand (tidal_server.db.raw), no SQLAlchemy.
            async with sqlite_transaction(self._engine) as db:
                fenced = await db.execute(_SQLITE_FENCE, (range_id, shard_id, range_id))
                if fenced.rowcount != 1:
                    raise ShardLostError(shard_id)
                return await batch_sqlite.write_batch(
                    db, shard_id=shard_id, writes=writes, published_seqs=published_seqs
                )
        async with self._engine.begin() as conn:
            if self._pg:
                # Search attributes to index (tidal_server.visibility) or schedules to write
                # (schedule_store.py), both on SQLAlchemy: the fence begins SQLAlchemy's
                # transaction, and the raw statements join it.
                if (await conn.exec_driver_sql(_FENCE, (range_id, shard_id))).rowcount != 1:
                    raise ShardLostError(shard_id)

                async def visibility(w: RunWrite) -> None:
                    await write_visibility(conn, self._insert, w)

                async def write_others() -> None:
                    await write_schedules(conn, shard_id, schedules, insert=self._insert)

                return await batch_pg.write_batch(
                    await driver_connection(conn),
                    shard_id=shard_id,
                    writes=writes,
                    published_seqs=published_seqs,
                    visibility=visibility,
                    others=write_others,
                    others_outbox=_outbox_of(schedules),
                )
            fenced = await conn.execute(
                sa.update(t.shards)
                .where(t.shards.c.shard_id == shard_id, t.shards.c.range_id == range_id)
                .values(range_id=range_id)
            )
            if fenced.rowcount != 1:
                raise ShardLostError(shard_id)

            async def write_others_sql() -> None:
                await write_schedules(conn, shard_id, schedules, insert=self._insert)

            return await batch_sql.write_batch(
                conn,
                insert=self._insert,
                shard_id=shard_id,
                writes=writes,
                published_seqs=published_seqs,
                others=write_others_sql,
                others_outbox=_outbox_of(schedules),
            )

    async def load_schedule(self, namespace: str, schedule_id: str) -> LoadedSchedule | None:
        return await load_schedule(self._autocommit, namespace, schedule_id)

    async def namespace_retention(self, namespace: str) -> timedelta | None:
        """The namespace's retention now, or None if the namespace is gone."""
        async with self._autocommit.connect() as conn:
            days = (
                await conn.execute(
                    sa.select(t.namespaces.c.retention_days).where(t.namespaces.c.name == namespace)
                )
            ).scalar()
        return None if days is None else timedelta(days=days)


def _outbox_of(schedules: Sequence[ScheduleWrite]) -> list[Outgoing]:
    """A deleted schedule's outbox goes too: it holds what the batch answered or caused."""
    return [o for w in schedules for o in w.outbox]
