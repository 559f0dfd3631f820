"""History's Postgres/SQLite I/O: load runs, commit a batch in one fenced transaction, outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tidal_schema import HistoryEvent, WorkflowExecutionStatus
from tidal_schema.messages import ScheduleTimer
from tidal_server.db import tables as t

from .api.start_workflow import CurrentRun
from .mutation import Outgoing
from .schedule_store import LoadedSchedule, ScheduleWrite, load_schedule, write_schedules
from .state import MutableState
from .store_errors import ShardLostError as ShardLostError
from .store_errors import StoreError as StoreError
from .store_errors import VersionConflictError as VersionConflictError
from .visibility import write_visibility


@dataclass(kw_only=True)
class RunWrite:
    """Everything one batch changes for one run."""

    state: MutableState
    old_version: int | None  # None: a new run
    events: list[HistoryEvent] = field(default_factory=list)
    # The net effect of the batch on each timer row, by key: the last ScheduleTimer set, or
    # None for a delete. A timer set by one message and deleted by a later one in the same
    # batch leaves no row (it would be fired stale after every takeover).
    timers: dict[str, ScheduleTimer | None] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)
    search_attributes: dict[str, Any] = field(default_factory=dict)
    # Retention expired: delete the run instead (api/retention.py).
    purge: bool = False
    # Filled in by the commit: JSON characters of the state document and of the new events
    # (the cache charges runs by them).
    state_chars: int = 0
    events_chars: int = 0

    @property
    def new_version(self) -> int:
        return (self.old_version or 0) + 1

    def record_timers(self, timers_set: Sequence[ScheduleTimer], timers_deleted: Sequence[str]) -> None:
        """One message's timer changes, after the earlier ones of the batch. Within one message
        a key is never set after being deleted unless it is re-set (Mutation.delete_timer drops
        an earlier set of the key), so its deletes go first."""
        for key in timers_deleted:
            self.timers[key] = None
        for timer in timers_set:
            self.timers[timer.key] = timer


@dataclass(frozen=True, kw_only=True)
class LoadedRun:
    state: MutableState
    version: int
    events: list[HistoryEvent]
    state_chars: int = 0
    events_chars: int = 0


@dataclass(frozen=True, kw_only=True)
class PendingOutbox:
    seq: int
    exchange: str
    routing_key: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)


class HistoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._pg = dialect == "postgresql"

    def _raw_json(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[Any]:
        """JSON text from pydantic's serializer, stored as is: faster than a dict that the driver
        serializes again, and its length is the run's size for the cache."""
        return sa.cast(value, JSONB) if self._pg else value

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
        async with self._engine.connect() as conn:
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
        async with self._engine.connect() as conn:
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
        async with self._engine.connect() as conn:
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
        async with self._engine.begin() as conn:
            fenced = await conn.execute(
                sa.update(t.shards)
                .where(t.shards.c.shard_id == shard_id, t.shards.c.range_id == range_id)
                .values(range_id=range_id)
            )
            if fenced.rowcount != 1:
                raise ShardLostError(shard_id)
            if published_seqs:
                await conn.execute(sa.delete(t.outbox).where(t.outbox.c.seq.in_(list(published_seqs))))
            kept = [w for w in writes if not w.purge]
            for w in writes:
                if w.purge:
                    await self._purge_run(conn, shard_id, w)
            for w in kept:
                await self._write_run(conn, w)
                await write_visibility(conn, self._insert, w)
            await self._write_events(conn, kept)
            await self._write_timers(conn, shard_id, kept)
            await write_schedules(conn, shard_id, schedules)
            # A purged run's outbox still goes: it holds what earlier messages of the batch
            # answered or caused; so does a deleted schedule's.
            items = [o for w in writes for o in w.outbox] + [o for w in schedules for o in w.outbox]
            return await self._write_outbox(conn, shard_id, items)

    async def _purge_run(self, conn: AsyncConnection, shard_id: int, w: RunWrite) -> None:
        st = w.state
        run = (t.executions.c.namespace == st.namespace) & (t.executions.c.workflow_id == st.workflow_id)
        res = await conn.execute(
            sa.delete(t.executions).where(
                run, t.executions.c.run_id == st.run_id, t.executions.c.version == w.old_version
            )
        )
        if res.rowcount != 1:
            raise VersionConflictError(
                f"run {st.run_id} changed concurrently (expected version {w.old_version})"
            )
        # Every table keyed by the run (tests/test_store_hygiene.py checks none is left out);
        # the outbox is not: its rows are side effects already committed, still to publish.
        for table in (t.current_executions, t.history_events, t.search_attribute_values):
            c = table.c
            await conn.execute(
                sa.delete(table).where(
                    c.namespace == st.namespace, c.workflow_id == st.workflow_id, c.run_id == st.run_id
                )
            )
        # Timer keys start with the run id (mutation.timer_key).
        await conn.execute(
            sa.delete(t.timers).where(
                t.timers.c.shard_id == shard_id, t.timers.c.key.startswith(f"{st.run_id}/")
            )
        )

    async def load_schedule(self, namespace: str, schedule_id: str) -> LoadedSchedule | None:
        return await load_schedule(self._engine, namespace, schedule_id)

    async def namespace_retention(self, namespace: str) -> timedelta | None:
        """The namespace's retention now, or None if the namespace is gone."""
        async with self._engine.connect() as conn:
            days = (
                await conn.execute(
                    sa.select(t.namespaces.c.retention_days).where(t.namespaces.c.name == namespace)
                )
            ).scalar()
        return None if days is None else timedelta(days=days)

    async def _write_run(self, conn: AsyncConnection, w: RunWrite) -> None:
        st = w.state
        doc = st.model_dump_json()
        w.state_chars = len(doc)
        result: Any = None
        if st.result is not None:
            result = {"result": [p.model_dump(mode="json") for p in st.result]}
        elif st.failure is not None:
            result = {"failure": st.failure.model_dump(mode="json")}
        values = dict(
            status=st.status.value,
            close_time=st.close_time,
            next_event_id=st.next_event_id,
            version=w.new_version,
            state=self._raw_json(sa.literal(doc, sa.Text)),
            result=result,
        )
        if w.old_version is None:
            await conn.execute(
                sa.insert(t.executions).values(
                    namespace=st.namespace,
                    workflow_id=st.workflow_id,
                    run_id=st.run_id,
                    shard_id=st.shard_id,
                    workflow_type=st.workflow_type,
                    task_queue=st.task_queue,
                    start_time=st.start_time,
                    memo=w.memo,
                    search_attributes=w.search_attributes,
                    **values,
                )
            )
            ins = self._insert(t.current_executions).values(
                namespace=st.namespace,
                workflow_id=st.workflow_id,
                run_id=st.run_id,
                status=st.status.value,
                start_request_id=st.start_request_id,
                shard_id=st.shard_id,
            )
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["namespace", "workflow_id"],
                    set_={
                        "run_id": st.run_id,
                        "status": st.status.value,
                        "start_request_id": st.start_request_id,
                    },
                )
            )
            return
        res = await conn.execute(
            sa.update(t.executions)
            .where(
                t.executions.c.namespace == st.namespace,
                t.executions.c.workflow_id == st.workflow_id,
                t.executions.c.run_id == st.run_id,
                t.executions.c.version == w.old_version,
            )
            .values(**values)
        )
        if res.rowcount != 1:
            raise VersionConflictError(
                f"run {st.run_id} changed concurrently (expected version {w.old_version})"
            )
        if not st.is_running:
            await conn.execute(
                sa.update(t.current_executions)
                .where(
                    t.current_executions.c.namespace == st.namespace,
                    t.current_executions.c.workflow_id == st.workflow_id,
                    t.current_executions.c.run_id == st.run_id,
                )
                .values(status=st.status.value)
            )

    async def _write_events(self, conn: AsyncConnection, writes: Sequence[RunWrite]) -> None:
        rows: list[dict[str, Any]] = []
        for w in writes:
            st, chars = w.state, 0
            for e in w.events:
                data = e.model_dump_json()
                chars += len(data)
                rows.append(
                    {
                        "namespace": st.namespace,
                        "workflow_id": st.workflow_id,
                        "run_id": st.run_id,
                        "event_id": e.event_id,
                        "event_type": e.event_type,
                        "event_time": e.event_time,
                        "data_json": data,
                    }
                )
            w.events_chars = chars
        if rows:
            as_json = self._raw_json(sa.bindparam("data_json", type_=sa.Text))
            await conn.execute(sa.insert(t.history_events).values(data=as_json), rows)

    async def _write_timers(self, conn: AsyncConnection, shard_id: int, writes: Sequence[RunWrite]) -> None:
        """The net effect per key: every touched row goes, then the ones whose last change was a
        set come back (so a re-set replaces the row, and a set then deleted leaves none)."""
        touched = [k for w in writes for k in w.timers]
        if touched:
            await conn.execute(
                sa.delete(t.timers).where(t.timers.c.shard_id == shard_id, t.timers.c.key.in_(touched))
            )
        rows = [
            {"shard_id": shard_id, "key": s.key, "fire_at": s.fire_at, "body": s.model_dump(mode="json")}
            for w in writes
            for s in w.timers.values()
            if s is not None
        ]
        if rows:
            await conn.execute(sa.insert(t.timers), rows)

    async def _write_outbox(
        self, conn: AsyncConnection, shard_id: int, items: Sequence[Outgoing]
    ) -> list[PendingOutbox]:
        if not items:
            return []
        bodies = [o.message.model_dump_json().encode() for o in items]
        rows = [
            {
                "shard_id": shard_id,
                "exchange": o.exchange,
                "routing_key": o.routing_key,
                "body": body,
                "headers": o.headers,
            }
            for o, body in zip(items, bodies, strict=True)
        ]
        result = await conn.execute(
            sa.insert(t.outbox).returning(t.outbox.c.seq, sort_by_parameter_order=True), rows
        )
        seqs = [int(r[0]) for r in result.all()]
        return [
            PendingOutbox(
                seq=seq, exchange=o.exchange, routing_key=o.routing_key, body=body, headers=o.headers
            )
            for seq, o, body in zip(seqs, items, bodies, strict=True)
        ]
