"""The batch commit on SQLite's driver directly: the embedded mode's common batch.

The same rows, checks and order of effects as batch_pg.py and the portable writer
(batch_sql.py), inside the transaction `HistoryStore.commit` began (by hand, on the driver:
tidal_server.db.raw.sqlite_transaction) and fenced: the statements here run on aiosqlite's
connection (which the embedded mode runs on the loop's thread: tidal_server.db.sqlite_loop), one
`executemany` per table instead of a SQLAlchemy-compiled statement per run, event, timer and
message. SQLAlchemy's execution layer
was the largest part of history's CPU in the embedded mode (docs/performance.md, "Embedded
mode"). Batches that purge runs, index search attributes or write schedules keep the portable
writer.

Values are stored the way SQLAlchemy's SQLite types store them, so every other reader (the
frontend, the timer service, visibility) sees the same rows: datetimes as UTC text
`YYYY-MM-DD HH:MM:SS.ffffff` (UTCDateTime; the timer service compares `fire_at` as text),
JSON documents as JSON text, the outbox body as a blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

from .mutation import Outgoing
from .store_types import PendingOutbox, RunWrite, VersionConflictError, event_rows, state_columns

__all__ = ["write_batch"]

# SQLite's default limit of bound variables per statement is 32,766 since 3.32; the outbox rows
# (5 values each) go in chunks well below it.
_OUTBOX_CHUNK = 1000

_INSERT_RUN = (
    "INSERT INTO executions (namespace, workflow_id, run_id, shard_id, workflow_type, task_queue, status,"
    " start_time, close_time, next_event_id, version, state, memo, search_attributes, result)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_CURRENT = (
    "INSERT INTO current_executions (namespace, workflow_id, run_id, status, start_request_id, shard_id)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, workflow_id) DO UPDATE"
    " SET run_id = excluded.run_id, status = excluded.status, start_request_id = excluded.start_request_id"
)
_UPDATE_RUN = (
    "UPDATE executions SET status = ?, close_time = ?, next_event_id = ?, version = ?, state = ?, result = ?"
    " WHERE namespace = ? AND workflow_id = ? AND run_id = ? AND version = ?"
)
# A run that stays running keeps its status and close_time (a run never goes back to running),
# so they are not assigned: SQLite rewrites an index entry for every indexed column a SET names,
# changed or not, and these two are in `executions`' status and close indexes: two WAL pages per
# commit (docs/performance.md, "Embedded mode").
_UPDATE_RUNNING = (
    "UPDATE executions SET next_event_id = ?, version = ?, state = ?, result = ?"
    " WHERE namespace = ? AND workflow_id = ? AND run_id = ? AND version = ?"
)
_UPDATE_MEMO = "UPDATE executions SET memo = ? WHERE namespace = ? AND workflow_id = ? AND run_id = ?"
_CLOSE_CURRENT = (
    "UPDATE current_executions SET status = ? WHERE namespace = ? AND workflow_id = ? AND run_id = ?"
)
_INSERT_EVENTS = (
    "INSERT INTO history_events (namespace, workflow_id, run_id, event_id, event_type, event_time, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_TIMER = "DELETE FROM timers WHERE shard_id = ? AND key = ?"
_INSERT_TIMER = "INSERT INTO timers (shard_id, key, fire_at, body) VALUES (?, ?, ?, ?)"
_DELETE_OUTBOX = "DELETE FROM outbox WHERE seq = ?"
_INSERT_OUTBOX = "INSERT INTO outbox (shard_id, exchange, routing_key, body, headers) VALUES "


def sqlite_time(value: datetime | None) -> str | None:
    """A timezone-aware datetime as UTCDateTime stores it on SQLite."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Tidal stores timezone-aware datetimes only")
    v = value.astimezone(UTC)
    day = f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    return f"{day} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


async def write_batch(
    db: Any, *, shard_id: int, writes: Sequence[RunWrite], published_seqs: Sequence[int]
) -> list[PendingOutbox]:
    """Everything after the fence, on aiosqlite's connection `db` inside the fenced transaction;
    the outbox rows to publish. The batch has no run to purge, no search attribute to index and
    no schedule (`HistoryStore.commit` checks)."""
    if published_seqs:
        await db.executemany(_DELETE_OUTBOX, [(seq,) for seq in published_seqs])
    await _write_runs(db, writes)
    await _write_events(db, writes)
    await _write_timers(db, shard_id, writes)
    return await _write_outbox(db, shard_id, [o for w in writes for o in w.outbox])


async def _write_runs(db: Any, writes: Sequence[RunWrite]) -> None:
    new = [w for w in writes if w.old_version is None]
    if new:
        rows = []
        for w in new:
            st = w.state
            doc, result = state_columns(w)
            rows.append(
                (
                    st.namespace,
                    st.workflow_id,
                    st.run_id,
                    st.shard_id,
                    st.workflow_type,
                    st.task_queue,
                    st.status.value,
                    sqlite_time(st.start_time),
                    sqlite_time(st.close_time),
                    st.next_event_id,
                    w.new_version,
                    doc,
                    to_json(w.memo).decode(),
                    to_json(w.search_attributes).decode(),
                    result,
                )
            )
        await db.executemany(_INSERT_RUN, rows)
        # In the batch's order: a later new run of the same workflow id replaces an earlier one.
        await db.executemany(
            _UPSERT_CURRENT,
            [
                (st.namespace, st.workflow_id, st.run_id, st.status.value, st.start_request_id, st.shard_id)
                for st in (w.state for w in new)
            ],
        )
    for w in writes:
        if w.old_version is None:
            continue
        st = w.state
        doc, result = state_columns(w)
        values = (
            st.next_event_id,
            w.new_version,
            doc,
            result,
            st.namespace,
            st.workflow_id,
            st.run_id,
            w.old_version,
        )
        if st.is_running:
            cursor = await db.execute(_UPDATE_RUNNING, values)
        else:
            cursor = await db.execute(_UPDATE_RUN, (st.status.value, sqlite_time(st.close_time), *values))
        key = (st.namespace, st.workflow_id, st.run_id)
        if cursor.rowcount != 1:
            expected = w.old_version
            raise VersionConflictError(f"run {key[2]} changed concurrently (expected version {expected})")
        if w.memo_changed:  # rare (workflow.upsert_memo): after the version check
            await db.execute(_UPDATE_MEMO, (to_json(w.memo).decode(), *key))
        if not st.is_running:
            await db.execute(_CLOSE_CURRENT, (st.status.value, *key))


async def _write_events(db: Any, writes: Sequence[RunWrite]) -> None:
    rows = [(n, w, r, e, t, sqlite_time(ts), d) for n, w, r, e, t, ts, d in event_rows(writes)]
    if rows:
        await db.executemany(_INSERT_EVENTS, rows)


async def _write_timers(db: Any, shard_id: int, writes: Sequence[RunWrite]) -> None:
    """The net effect per key: every touched row goes, then the ones whose last change was a
    set come back (so a re-set replaces the row, and a set then deleted leaves none)."""
    touched = [(shard_id, k) for w in writes for k in w.timers]
    if not touched:
        return
    await db.executemany(_DELETE_TIMER, touched)
    kept = [s for w in writes for s in w.timers.values() if s is not None]
    if kept:
        await db.executemany(
            _INSERT_TIMER, [(shard_id, s.key, sqlite_time(s.fire_at), s.model_dump_json()) for s in kept]
        )


async def _write_outbox(db: Any, shard_id: int, items: Sequence[Outgoing]) -> list[PendingOutbox]:
    if not items:
        return []
    bodies = [o.message.model_dump_json().encode() for o in items]
    seqs: list[int] = []
    for start in range(0, len(items), _OUTBOX_CHUNK):
        chunk = range(start, min(start + _OUTBOX_CHUNK, len(items)))
        values: list[Any] = []
        for i in chunk:
            o = items[i]
            values += (shard_id, o.exchange, o.routing_key, bodies[i], to_json(o.headers).decode())
        sql = _INSERT_OUTBOX + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)) + " RETURNING seq"
        cursor = await db.execute(sql, values)
        # SQLite inserts the rows in VALUES order, handing out ascending seqs (AUTOINCREMENT),
        # but RETURNING's order is not specified: sorting pairs each seq with its row.
        seqs += sorted(int(r[0]) for r in await cursor.fetchall())
    return [
        PendingOutbox(
            seq=seq,
            exchange=o.exchange,
            routing_key=o.routing_key,
            body=body,
            headers=o.headers,
            decoded=o.message,
        )
        for seq, o, body in zip(seqs, items, bodies, strict=True)
    ]
