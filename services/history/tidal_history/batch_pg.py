"""The batch commit on Postgres, on asyncpg directly: a fixed handful of statements per batch.

Same rows, same checks and the same order of effects as the portable writer (batch_sql.py, which
the embedded mode's SQLite uses), inside the transaction `HistoryStore.commit` began and fenced
(asyncpg's own, or SQLAlchemy's when search attributes need indexing).
Each table gets one statement for the whole batch, with the rows passed as arrays and expanded
by `unnest` (prepared once per connection by asyncpg's statement cache), instead of one
SQLAlchemy-compiled statement per run and an `executemany` row per event, timer and message.
Documents arrive as JSON text and are cast to jsonb by the server, so nothing is serialized
twice. docs/performance.md#history-hot-path has the figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from pydantic_core import to_json

from .mutation import Outgoing
from .store_types import (
    PendingOutbox,
    RunWrite,
    ShardLostError,
    VersionConflictError,
    event_rows,
    state_columns,
)

__all__ = ["DELETE_PUBLISHED", "count", "write_batch", "write_batch_in_one_call"]

DELETE_PUBLISHED = "DELETE FROM outbox WHERE seq = ANY($1::bigint[])"

_INSERT_RUNS = """
INSERT INTO executions (namespace, workflow_id, run_id, shard_id, workflow_type, task_queue, status,
    start_time, close_time, next_event_id, version, state, memo, search_attributes, result)
SELECT n, w, r, s, wt, tq, st, t0, t1, ne, v, doc::jsonb, memo::jsonb, sa::jsonb, res::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
    $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::bigint[], $12::text[], $13::text[],
    $14::text[], $15::text[]) AS u(n, w, r, s, wt, tq, st, t0, t1, ne, v, doc, memo, sa, res)
"""

# One row per workflow id (the batch's last new run of it): ON CONFLICT cannot touch a row twice.
_UPSERT_CURRENT = """
INSERT INTO current_executions (namespace, workflow_id, run_id, status, start_request_id, shard_id)
SELECT n, w, r, st, req, s
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
    AS u(n, w, r, st, req, s)
ON CONFLICT (namespace, workflow_id) DO UPDATE
SET run_id = excluded.run_id, status = excluded.status, start_request_id = excluded.start_request_id
"""

# The version check of every run in one statement: a run it does not return changed underneath.
_UPDATE_RUNS = """
UPDATE executions AS e
SET status = u.st, close_time = u.t1, next_event_id = u.ne, version = u.v, state = u.doc::jsonb,
    result = u.res::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[],
    $7::bigint[], $8::bigint[], $9::text[], $10::text[]) AS u(n, w, r, old, st, t1, ne, v, doc, res)
WHERE e.namespace = u.n AND e.workflow_id = u.w AND e.run_id = u.r AND e.version = u.old
RETURNING e.run_id
"""

# Runs whose workflow upserted its memo (rare: its own statement, after the version check).
_UPDATE_MEMO = """
UPDATE executions AS e SET memo = u.memo::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(n, w, r, memo)
WHERE e.namespace = u.n AND e.workflow_id = u.w AND e.run_id = u.r
"""

_CLOSE_CURRENT = """
UPDATE current_executions AS c SET status = u.st
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(n, w, r, st)
WHERE c.namespace = u.n AND c.workflow_id = u.w AND c.run_id = u.r
"""

_INSERT_EVENTS = """
INSERT INTO history_events (namespace, workflow_id, run_id, event_id, event_type, event_time, data)
SELECT n, w, r, e, t, ts, d::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[],
    $7::text[]) AS u(n, w, r, e, t, ts, d)
"""

_DELETE_TIMERS = "DELETE FROM timers WHERE shard_id = $1 AND key = ANY($2::text[])"

_INSERT_TIMERS = """
INSERT INTO timers (shard_id, key, fire_at, body)
SELECT $1, k, f, b::jsonb FROM unnest($2::text[], $3::timestamptz[], $4::text[]) AS u(k, f, b)
"""

# Rows go in in `i` order, so the sequence hands out ascending seqs in that order: sorting what
# RETURNING gives back pairs each seq with its message (SQLAlchemy's insertmanyvalues relies on
# the same for sort_by_parameter_order).
_INSERT_OUTBOX = """
INSERT INTO outbox (shard_id, exchange, routing_key, body, headers)
SELECT $1, x, k, b, h::jsonb
FROM unnest($2::text[], $3::text[], $4::bytea[], $5::text[]) WITH ORDINALITY AS u(x, k, b, h, i)
ORDER BY i
RETURNING seq
"""

# tidal_write_batch's arguments (migration 0005): the fence, the published seqs, then each table's
# arrays in the order of the statements above.
_WRITE_BATCH = "SELECT tidal_write_batch({})".format(", ".join(f"${i}" for i in range(1, 58)))
_SHARD_LOST = "TDSHL"  # raised by the function's fence
_VERSION_CONFLICT = "TDVER"  # raised by its version check; the message is the run id

_PURGE = (
    "DELETE FROM current_executions WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3",
    "DELETE FROM history_events WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3",
    "DELETE FROM search_attribute_values WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3",
)


def count(status: str) -> int:
    """Rows an INSERT/UPDATE/DELETE touched, from its command tag ("UPDATE 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def write_batch(
    db: Any,
    *,
    shard_id: int,
    writes: Sequence[RunWrite],
    published_seqs: Sequence[int],
    visibility: Callable[[RunWrite], Awaitable[None]] | None = None,
    others: Callable[[], Awaitable[None]] | None = None,
    others_outbox: Sequence[Outgoing] = (),
) -> list[PendingOutbox]:
    """Everything after the fence, in the fenced transaction on the asyncpg connection `db`; the
    outbox rows to publish. `visibility` indexes a run's search attributes (on SQLAlchemy, in the
    same transaction); without it the batch must have none to index (`needs_visibility`).
    `others` writes the batch's other entities (schedules) after the runs' timers, and
    `others_outbox` is their outbox, after the runs'."""
    if published_seqs:
        await db.execute(DELETE_PUBLISHED, list(published_seqs))
    kept = [w for w in writes if not w.purge]
    for w in writes:
        if w.purge:
            await _purge_run(db, shard_id, w)
    await _write_runs(db, kept)
    if visibility is not None:
        # Rare (search attributes set or upserted) and keyed by name: left to SQLAlchemy, on the
        # same connection and transaction.
        for w in kept:
            await visibility(w)
    await _write_events(db, kept)
    await _write_timers(db, shard_id, kept)
    if others is not None:
        await others()
    # A purged run's outbox still goes: it holds what earlier messages of the batch answered or
    # caused.
    return await _write_outbox(db, shard_id, [o for w in writes for o in w.outbox] + list(others_outbox))


async def _purge_run(db: Any, shard_id: int, w: RunWrite) -> None:
    st = w.state
    key = (st.namespace, st.workflow_id, st.run_id)
    status = await db.execute(
        "DELETE FROM executions WHERE namespace = $1 AND workflow_id = $2 AND run_id = $3 AND version = $4",
        *key,
        w.old_version,
    )
    if count(status) != 1:
        raise VersionConflictError(f"run {st.run_id} changed concurrently (expected version {w.old_version})")
    for statement in _PURGE:
        await db.execute(statement, *key)
    # Timer keys start with the run id (mutation.timer_key); a uuid has no LIKE wildcard, but the
    # prefix is escaped anyway.
    prefix = st.run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
    await db.execute("DELETE FROM timers WHERE shard_id = $1 AND key LIKE $2", shard_id, prefix)


Columns = list[list[Any]]


def _columns(rows: Iterable[Sequence[Any]], width: int) -> Columns:
    """Rows turned into `width` parallel arrays (what `unnest` takes)."""
    cols: Columns = [[] for _ in range(width)]
    for row in rows:
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


def _new_run_rows(new: Sequence[RunWrite]) -> Iterator[tuple[Any, ...]]:
    for w in new:
        st = w.state
        doc, result = state_columns(w)
        yield (
            st.namespace,
            st.workflow_id,
            st.run_id,
            st.shard_id,
            st.workflow_type,
            st.task_queue,
            st.status.value,
            st.start_time,
            st.close_time,
            st.next_event_id,
            w.new_version,
            doc,
            to_json(w.memo).decode(),
            to_json(w.search_attributes).decode(),
            result,
        )


def _current_rows(new: Sequence[RunWrite]) -> Iterator[tuple[Any, ...]]:
    last = {(w.state.namespace, w.state.workflow_id): w.state for w in new}
    for st in last.values():
        yield st.namespace, st.workflow_id, st.run_id, st.status.value, st.start_request_id, st.shard_id


def _old_run_rows(old: Sequence[RunWrite]) -> Iterator[tuple[Any, ...]]:
    for w in old:
        st = w.state
        doc, result = state_columns(w)
        yield (
            st.namespace,
            st.workflow_id,
            st.run_id,
            w.old_version,
            st.status.value,
            st.close_time,
            st.next_event_id,
            w.new_version,
            doc,
            result,
        )


def _memo_rows(old: Sequence[RunWrite]) -> Iterator[tuple[Any, ...]]:
    for w in old:
        if w.memo_changed:
            yield w.state.namespace, w.state.workflow_id, w.state.run_id, to_json(w.memo).decode()


def _closed_rows(old: Sequence[RunWrite]) -> Iterator[tuple[Any, ...]]:
    for w in old:
        st = w.state
        if not st.is_running:
            yield st.namespace, st.workflow_id, st.run_id, st.status.value


def _timer_columns(writes: Sequence[RunWrite]) -> tuple[list[str], Columns]:
    """The keys the batch touched, and the rows whose last change was a set."""
    touched = [k for w in writes for k in w.timers]
    kept = [s for w in writes for s in w.timers.values() if s is not None]
    return touched, [[s.key for s in kept], [s.fire_at for s in kept], [s.model_dump_json() for s in kept]]


def _outbox_columns(items: Sequence[Outgoing]) -> tuple[list[bytes], Columns]:
    bodies = [o.message.model_dump_json().encode() for o in items]
    return bodies, [
        [o.exchange for o in items],
        [o.routing_key for o in items],
        bodies,
        [to_json(o.headers).decode() for o in items],
    ]


def _pending(seqs: Iterable[int], items: Sequence[Outgoing], bodies: Sequence[bytes]) -> list[PendingOutbox]:
    return [
        PendingOutbox(seq=seq, exchange=o.exchange, routing_key=o.routing_key, body=body, headers=o.headers)
        for seq, o, body in zip(sorted(seqs), items, bodies, strict=True)
    ]


async def write_batch_in_one_call(
    db: Any, *, shard_id: int, range_id: int, writes: Sequence[RunWrite], published_seqs: Sequence[int]
) -> list[PendingOutbox]:
    """The fence and the whole batch in one statement (`tidal_write_batch`, migration 0005), in
    its implicit transaction on the asyncpg connection `db`: one round trip instead of ten. Runs
    to purge are not taken here (`HistoryStore.commit` sends those batches to `write_batch`)."""
    new = [w for w in writes if w.old_version is None]
    old = [w for w in writes if w.old_version is not None]
    touched, timers = _timer_columns(writes)
    items = [o for w in writes for o in w.outbox]
    bodies, outbox = _outbox_columns(items)
    try:
        seqs = await db.fetchval(
            _WRITE_BATCH,
            shard_id,
            range_id,
            list(published_seqs),
            *_columns(_new_run_rows(new), 15),
            *_columns(_current_rows(new), 6),
            *_columns(_old_run_rows(old), 10),
            *_columns(_memo_rows(old), 4),
            *_columns(_closed_rows(old), 4),
            *_columns(event_rows(writes), 7),
            touched,
            *timers,
            *outbox,
        )
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        if state == _SHARD_LOST:
            raise ShardLostError(shard_id) from exc
        if state == _VERSION_CONFLICT:
            run_id = getattr(exc, "message", "")
            w = next((w for w in old if w.state.run_id == run_id), None)
            expected = w.old_version if w is not None else "?"
            raise VersionConflictError(
                f"run {run_id} changed concurrently (expected version {expected})"
            ) from exc
        raise
    return _pending(seqs, items, bodies)


async def _write_runs(db: Any, writes: Sequence[RunWrite]) -> None:
    new = [w for w in writes if w.old_version is None]
    old = [w for w in writes if w.old_version is not None]
    if new:
        await db.execute(_INSERT_RUNS, *_columns(_new_run_rows(new), 15))
        await db.execute(_UPSERT_CURRENT, *_columns(_current_rows(new), 6))
    if old:
        updated = {r[0] for r in await db.fetch(_UPDATE_RUNS, *_columns(_old_run_rows(old), 10))}
        missed = [w for w in old if w.state.run_id not in updated]
        if missed:
            w = missed[0]
            raise VersionConflictError(
                f"run {w.state.run_id} changed concurrently (expected version {w.old_version})"
            )
        memos = _columns(_memo_rows(old), 4)
        if memos[0]:
            await db.execute(_UPDATE_MEMO, *memos)
        closed = _columns(_closed_rows(old), 4)
        if closed[0]:
            await db.execute(_CLOSE_CURRENT, *closed)


async def _write_events(db: Any, writes: Sequence[RunWrite]) -> None:
    cols = _columns(event_rows(writes), 7)
    if cols[0]:
        await db.execute(_INSERT_EVENTS, *cols)


async def _write_timers(db: Any, shard_id: int, writes: Sequence[RunWrite]) -> None:
    """The net effect per key: every touched row goes, then the ones whose last change was a
    set come back (so a re-set replaces the row, and a set then deleted leaves none)."""
    touched, kept = _timer_columns(writes)
    if not touched:
        return
    await db.execute(_DELETE_TIMERS, shard_id, touched)
    if kept[0]:
        await db.execute(_INSERT_TIMERS, shard_id, *kept)


async def _write_outbox(db: Any, shard_id: int, items: Sequence[Outgoing]) -> list[PendingOutbox]:
    if not items:
        return []
    bodies, cols = _outbox_columns(items)
    rows = await db.fetch(_INSERT_OUTBOX, shard_id, *cols)
    return _pending((int(r[0]) for r in rows), items, bodies)
