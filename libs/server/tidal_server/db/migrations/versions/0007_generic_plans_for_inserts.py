"""Generic plans for the batch function's statements that have no plan to choose (Postgres only).

Migration 0006 made every statement of `tidal_write_batch` planned per call
(`plan_cache_mode = force_custom_plan`), so the joins of a batch's keys to `executions`,
`current_executions`, `timers` and `outbox` are planned for the batch's own keys. The fence (an
update of one `shards` row by its primary key) and the inserts from the batch's arrays have no
plan that depends on the keys or on the tables' statistics, yet they were planned again on every
call: pg_stat_statements (`track_planning`) put that at 110-150 us of the server's time per
workflow on the burst (docs/performance.md, "Statements planned once ...").

The function now switches `plan_cache_mode` per statement with `set_config(..., true)` (SET
LOCAL), which the function's own SET clause confines to the call: generic plans, made once per
session, for the fence and the inserts; plans per batch, as before, for the statements that join
or look up the batch's keys (the published outbox rows' delete, the version-checked update, the
memo and close updates, the timers' delete). The version check's search of the updated run ids
reads no table: generic too. The statements, their order and their errors are those of 0005.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here, not imported, so this revision stays fixed when the writer changes.
_FUNCTION = """CREATE OR REPLACE FUNCTION tidal_write_batch(
    p_shard int, p_range bigint, p_published bigint[],
    n_ns text[], n_wf text[], n_run text[], n_shard int[], n_type text[], n_tq text[], n_st text[],
    n_t0 timestamptz[], n_t1 timestamptz[], n_next bigint[], n_ver bigint[], n_doc text[],
    n_memo text[], n_sa text[], n_res text[],
    c_ns text[], c_wf text[], c_run text[], c_st text[], c_req text[], c_shard int[],
    o_ns text[], o_wf text[], o_run text[], o_old bigint[], o_st text[], o_t1 timestamptz[],
    o_next bigint[], o_ver bigint[], o_doc text[], o_res text[],
    m_ns text[], m_wf text[], m_run text[], m_memo text[],
    x_ns text[], x_wf text[], x_run text[], x_st text[],
    e_ns text[], e_wf text[], e_run text[], e_id bigint[], e_type text[], e_time timestamptz[],
    e_data text[],
    t_touched text[], t_key text[], t_fire timestamptz[], t_body text[],
    b_exchange text[], b_key text[], b_body bytea[], b_headers text[]
) RETURNS bigint[] LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $fn$
DECLARE
    done text[];
    missed text;
    seqs bigint[];
    plans text;  -- the plan_cache_mode in force (set_config's answer)
BEGIN
    -- Generic plans for what has no plan to choose (the fence by primary key, the inserts from
    -- arrays); plans per batch for what joins the batch's keys to a table (migration 0007).
    plans := set_config('plan_cache_mode', 'force_generic_plan', true);
    UPDATE shards SET range_id = p_range WHERE shard_id = p_shard AND range_id = p_range;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'shard % is owned by another range_id', p_shard USING ERRCODE = 'TDSHL';
    END IF;
    IF cardinality(p_published) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_custom_plan', true);
        DELETE FROM outbox WHERE seq = ANY(p_published);
    END IF;
    IF cardinality(n_ns) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_generic_plan', true);
        INSERT INTO executions (namespace, workflow_id, run_id, shard_id, workflow_type, task_queue,
            status, start_time, close_time, next_event_id, version, state, memo, search_attributes,
            result)
        SELECT n, w, r, s, wt, tq, st, t0, t1, ne, v, doc::jsonb, memo::jsonb, sa::jsonb, res::jsonb
        FROM unnest(n_ns, n_wf, n_run, n_shard, n_type, n_tq, n_st, n_t0, n_t1, n_next, n_ver,
            n_doc, n_memo, n_sa, n_res)
            AS u(n, w, r, s, wt, tq, st, t0, t1, ne, v, doc, memo, sa, res);
        -- One row per workflow id (the batch's last new run of it): ON CONFLICT cannot touch a
        -- row twice.
        INSERT INTO current_executions (namespace, workflow_id, run_id, status, start_request_id,
            shard_id)
        SELECT n, w, r, st, req, s
        FROM unnest(c_ns, c_wf, c_run, c_st, c_req, c_shard) AS u(n, w, r, st, req, s)
        ON CONFLICT (namespace, workflow_id) DO UPDATE
        SET run_id = excluded.run_id, status = excluded.status,
            start_request_id = excluded.start_request_id;
    END IF;
    IF cardinality(o_ns) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_custom_plan', true);
        -- The version check of every run in one statement: a run it does not return changed
        -- underneath.
        WITH up AS (
            UPDATE executions AS e
            SET status = u.st, close_time = u.t1, next_event_id = u.ne, version = u.v,
                state = u.doc::jsonb, result = u.res::jsonb
            FROM unnest(o_ns, o_wf, o_run, o_old, o_st, o_t1, o_next, o_ver, o_doc, o_res)
                AS u(n, w, r, old, st, t1, ne, v, doc, res)
            WHERE e.namespace = u.n AND e.workflow_id = u.w AND e.run_id = u.r
                AND e.version = u.old
            RETURNING e.run_id
        )
        SELECT array_agg(run_id) INTO done FROM up;
        plans := set_config('plan_cache_mode', 'force_generic_plan', true);
        SELECT r INTO missed FROM unnest(o_run) AS r
        WHERE NOT (r = ANY(coalesce(done, '{}'::text[]))) LIMIT 1;
        IF missed IS NOT NULL THEN
            RAISE EXCEPTION '%', missed USING ERRCODE = 'TDVER';
        END IF;
    END IF;
    IF cardinality(m_ns) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_custom_plan', true);
        UPDATE executions AS e SET memo = u.memo::jsonb
        FROM unnest(m_ns, m_wf, m_run, m_memo) AS u(n, w, r, memo)
        WHERE e.namespace = u.n AND e.workflow_id = u.w AND e.run_id = u.r;
    END IF;
    IF cardinality(x_ns) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_custom_plan', true);
        UPDATE current_executions AS c SET status = u.st
        FROM unnest(x_ns, x_wf, x_run, x_st) AS u(n, w, r, st)
        WHERE c.namespace = u.n AND c.workflow_id = u.w AND c.run_id = u.r;
    END IF;
    IF cardinality(e_ns) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_generic_plan', true);
        INSERT INTO history_events (namespace, workflow_id, run_id, event_id, event_type,
            event_time, data)
        SELECT n, w, r, e, t, ts, d::jsonb
        FROM unnest(e_ns, e_wf, e_run, e_id, e_type, e_time, e_data) AS u(n, w, r, e, t, ts, d);
    END IF;
    -- The net effect per key: every touched row goes, then the ones whose last change was a set
    -- come back.
    IF cardinality(t_touched) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_custom_plan', true);
        DELETE FROM timers WHERE shard_id = p_shard AND key = ANY(t_touched);
    END IF;
    IF cardinality(t_key) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_generic_plan', true);
        INSERT INTO timers (shard_id, key, fire_at, body)
        SELECT p_shard, k, f, b::jsonb FROM unnest(t_key, t_fire, t_body) AS u(k, f, b);
    END IF;
    IF cardinality(b_exchange) > 0 THEN
        plans := set_config('plan_cache_mode', 'force_generic_plan', true);
        -- Rows go in in `i` order, so the sequence hands out ascending seqs in that order.
        WITH ins AS (
            INSERT INTO outbox (shard_id, exchange, routing_key, body, headers)
            SELECT p_shard, x, k, b, h::jsonb
            FROM unnest(b_exchange, b_key, b_body, b_headers) WITH ORDINALITY AS u(x, k, b, h, i)
            ORDER BY i
            RETURNING seq
        )
        SELECT array_agg(seq ORDER BY seq) INTO seqs FROM ins;
    END IF;
    RETURN coalesce(seqs, '{}'::bigint[]);
END
$fn$
"""


def _function_0005() -> str:
    """The function as migration 0005 created it (0006 then only set its plan_cache_mode)."""
    path = Path(__file__).with_name("0005_write_batch_function.py")
    spec = importlib.util.spec_from_file_location("tidal_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._FUNCTION)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # CREATE OR REPLACE drops the SET clause that 0006 added; it is set again, as 0006 did.
        op.execute(_function_0005())
        op.execute(
            "ALTER FUNCTION tidal_write_batch(" + _SIGNATURE + ") SET plan_cache_mode = force_custom_plan"
        )


_SIGNATURE = (
    "int, bigint, bigint[],"
    " text[], text[], text[], int[], text[], text[], text[], timestamptz[], timestamptz[], bigint[],"
    " bigint[], text[], text[], text[], text[],"
    " text[], text[], text[], text[], text[], int[],"
    " text[], text[], text[], bigint[], text[], timestamptz[], bigint[], bigint[], text[], text[],"
    " text[], text[], text[], text[],"
    " text[], text[], text[], text[],"
    " text[], text[], text[], bigint[], text[], timestamptz[], text[],"
    " text[], text[], timestamptz[], text[],"
    " text[], text[], bytea[], text[]"
)
