"""The batch commit on SQLAlchemy Core: the portable writer (the embedded mode's SQLite).

Postgres takes the same rows through batch_pg.py, on asyncpg directly; the two are held to the
same effects by the store tests that run on both (test_store_hygiene.py, test_current_run.py...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from tidal_server.db import tables as t

from .mutation import Outgoing
from .store_types import PendingOutbox, RunWrite, VersionConflictError, event_rows, state_columns
from .visibility import write_visibility

__all__ = ["write_batch"]

# The hot statements are built once, with bind parameters: SQLAlchemy then skips constructing the
# statement and generating its cache key on every batch (the cache key is memoized on the
# object), which was most of the embedded mode's commit CPU (docs/performance.md#latency).
_X = t.executions.c
_RUN_COLUMNS = dict(
    status=sa.bindparam("b_status", type_=_X.status.type),
    close_time=sa.bindparam("b_close_time", type_=_X.close_time.type),
    next_event_id=sa.bindparam("b_next_event_id", type_=_X.next_event_id.type),
    version=sa.bindparam("b_version", type_=_X.version.type),
    # JSON text stored as is (SQLite keeps JSON as text).
    state=sa.bindparam("b_state", type_=sa.Text),
    result=sa.bindparam("b_result", type_=sa.Text),
)
_UPDATE_RUN = (
    sa.update(t.executions)
    .where(
        _X.namespace == sa.bindparam("b_namespace"),
        _X.workflow_id == sa.bindparam("b_workflow_id"),
        _X.run_id == sa.bindparam("b_run_id"),
        _X.version == sa.bindparam("b_old_version"),
    )
    .values(**_RUN_COLUMNS)
)
_CLOSE_CURRENT = (
    sa.update(t.current_executions)
    .where(
        t.current_executions.c.namespace == sa.bindparam("b_namespace"),
        t.current_executions.c.workflow_id == sa.bindparam("b_workflow_id"),
        t.current_executions.c.run_id == sa.bindparam("b_run_id"),
    )
    .values(status=sa.bindparam("b_status", type_=t.current_executions.c.status.type))
)
_INSERT_EVENTS = sa.insert(t.history_events).values(data=sa.bindparam("data_json", type_=sa.Text))
_DELETE_TIMERS = sa.delete(t.timers).where(
    t.timers.c.shard_id == sa.bindparam("b_shard_id"),
    t.timers.c.key.in_(sa.bindparam("b_keys", expanding=True)),
)
_INSERT_TIMERS = sa.insert(t.timers)
_DELETE_OUTBOX = sa.delete(t.outbox).where(t.outbox.c.seq.in_(sa.bindparam("b_seqs", expanding=True)))
_INSERT_OUTBOX = sa.insert(t.outbox).returning(t.outbox.c.seq, sort_by_parameter_order=True)


async def write_batch(
    conn: AsyncConnection,
    *,
    insert: Callable[..., Any],
    shard_id: int,
    writes: Sequence[RunWrite],
    published_seqs: Sequence[int],
    others: Callable[[], Awaitable[None]] | None = None,
    others_outbox: Sequence[Outgoing] = (),
) -> list[PendingOutbox]:
    """Everything after the fence, in the fenced transaction; the outbox rows to publish.
    `others` writes the batch's other entities (schedules) after the runs' timers, and
    `others_outbox` is their outbox, after the runs'."""
    if published_seqs:
        await conn.execute(_DELETE_OUTBOX, {"b_seqs": list(published_seqs)})
    kept = [w for w in writes if not w.purge]
    for w in writes:
        if w.purge:
            await _purge_run(conn, shard_id, w)
    for w in kept:
        await _write_run(conn, insert, w)
        await write_visibility(conn, insert, w)
    await _write_events(conn, kept)
    await _write_timers(conn, shard_id, kept)
    if others is not None:
        await others()
    # A purged run's outbox still goes: it holds what earlier messages of the batch answered or
    # caused.
    return await _write_outbox(conn, shard_id, [o for w in writes for o in w.outbox] + list(others_outbox))


async def _purge_run(conn: AsyncConnection, shard_id: int, w: RunWrite) -> None:
    st = w.state
    run = (t.executions.c.namespace == st.namespace) & (t.executions.c.workflow_id == st.workflow_id)
    res = await conn.execute(
        sa.delete(t.executions).where(
            run, t.executions.c.run_id == st.run_id, t.executions.c.version == w.old_version
        )
    )
    if res.rowcount != 1:
        raise VersionConflictError(f"run {st.run_id} changed concurrently (expected version {w.old_version})")
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
        sa.delete(t.timers).where(t.timers.c.shard_id == shard_id, t.timers.c.key.startswith(f"{st.run_id}/"))
    )


async def _write_run(conn: AsyncConnection, insert: Callable[..., Any], w: RunWrite) -> None:
    st = w.state
    doc, result = state_columns(w)
    if w.old_version is None:
        values = dict(
            status=st.status.value,
            close_time=st.close_time,
            next_event_id=st.next_event_id,
            version=w.new_version,
            state=sa.literal(doc, sa.Text),
            result=sa.literal(result, sa.Text),
        )
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
        ins = insert(t.current_executions).values(
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
    run = {"b_namespace": st.namespace, "b_workflow_id": st.workflow_id, "b_run_id": st.run_id}
    res = await conn.execute(
        _UPDATE_RUN,
        {
            **run,
            "b_old_version": w.old_version,
            "b_status": st.status.value,
            "b_close_time": st.close_time,
            "b_next_event_id": st.next_event_id,
            "b_version": w.new_version,
            "b_state": doc,
            "b_result": result,
        },
    )
    if res.rowcount != 1:
        raise VersionConflictError(f"run {st.run_id} changed concurrently (expected version {w.old_version})")
    if w.memo_changed:  # rare (workflow.upsert_memo): its own statement, after the version check
        ex = t.executions.c
        await conn.execute(
            sa.update(t.executions)
            .where(ex.namespace == st.namespace, ex.workflow_id == st.workflow_id, ex.run_id == st.run_id)
            .values(memo=w.memo)
        )
    if not st.is_running:
        await conn.execute(_CLOSE_CURRENT, {**run, "b_status": st.status.value})


async def _write_events(conn: AsyncConnection, writes: Sequence[RunWrite]) -> None:
    keys = ("namespace", "workflow_id", "run_id", "event_id", "event_type", "event_time", "data_json")
    rows = [dict(zip(keys, row, strict=True)) for row in event_rows(writes)]
    if rows:
        await conn.execute(_INSERT_EVENTS, rows)


async def _write_timers(conn: AsyncConnection, shard_id: int, writes: Sequence[RunWrite]) -> None:
    """The net effect per key: every touched row goes, then the ones whose last change was a
    set come back (so a re-set replaces the row, and a set then deleted leaves none)."""
    touched = [k for w in writes for k in w.timers]
    if touched:
        await conn.execute(_DELETE_TIMERS, {"b_shard_id": shard_id, "b_keys": touched})
    rows = [
        {"shard_id": shard_id, "key": s.key, "fire_at": s.fire_at, "body": s.model_dump(mode="json")}
        for w in writes
        for s in w.timers.values()
        if s is not None
    ]
    if rows:
        await conn.execute(_INSERT_TIMERS, rows)


async def _write_outbox(
    conn: AsyncConnection, shard_id: int, items: Sequence[Outgoing]
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
    result = await conn.execute(_INSERT_OUTBOX, rows)
    seqs = [int(r[0]) for r in result.all()]
    return [
        PendingOutbox(seq=seq, exchange=o.exchange, routing_key=o.routing_key, body=body, headers=o.headers)
        for seq, o, body in zip(seqs, items, bodies, strict=True)
    ]
