"""Plans made for the keys of each batch, not cached from an empty table (Postgres only).

Postgres caches a statement's plan per session: the first five executions of a prepared statement
(asyncpg's, and every statement inside a PL/pgSQL function) get custom plans made with the
parameter values, then a generic plan is made once, with every array parameter assumed to hold 10
elements and the table at the size it had then, and kept while its cost looks no worse; only an
invalidation (ANALYZE, DDL) makes it again. On a new database that generic plan is made while the
tables are empty, so the joins of a batch's keys to `current_executions` and `executions` stayed
hash joins over sequential scans as the tables grew (docs/performance.md, "Plans made for the keys
of each batch").

- `tidal_write_batch` runs with `plan_cache_mode = force_custom_plan`: each statement is planned
  for the batch's own keys (the arrays' real lengths) and the tables' current sizes;
- `tidal_load_currents` is the batch's starts' read of their current runs, the same join, in a
  function with the same setting (a session-wide setting would reach every other statement).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITE_BATCH = (
    "tidal_write_batch(int, bigint, bigint[],"
    " text[], text[], text[], int[], text[], text[], text[], timestamptz[], timestamptz[], bigint[],"
    " bigint[], text[], text[], text[], text[],"
    " text[], text[], text[], text[], text[], int[],"
    " text[], text[], text[], bigint[], text[], timestamptz[], bigint[], bigint[], text[], text[],"
    " text[], text[], text[], text[],"
    " text[], text[], text[], text[],"
    " text[], text[], text[], bigint[], text[], timestamptz[], text[],"
    " text[], text[], timestamptz[], text[],"
    " text[], text[], bytea[], text[])"
)

_LOAD_CURRENTS = """
CREATE OR REPLACE FUNCTION tidal_load_currents(p_ns text[], p_wf text[])
RETURNS TABLE (namespace text, workflow_id text, run_id text, status text, start_request_id text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $fn$
BEGIN
    RETURN QUERY
    SELECT c.namespace, c.workflow_id, c.run_id, c.status, c.start_request_id
    FROM unnest(p_ns, p_wf) AS u(n, w)
    JOIN current_executions AS c ON c.namespace = u.n AND c.workflow_id = u.w;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION {_WRITE_BATCH} SET plan_cache_mode = force_custom_plan")
        op.execute(_LOAD_CURRENTS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tidal_load_currents(text[], text[])")
        op.execute(f"ALTER FUNCTION {_WRITE_BATCH} RESET plan_cache_mode")
