"""Read-only looks into the stack's Postgres database: transaction counters and where the time
goes between a workflow's history events."""

from __future__ import annotations

import statistics
from typing import Any

import asyncpg


async def pg_counters(dsn: str) -> dict[str, int]:
    """Cumulative commits and row changes of the current database (pg_stat_database)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        return {k: int(v) for k, v in dict(row or {}).items()}
    finally:
        await conn.close()


def per_workflow(before: dict[str, int], after: dict[str, int], workflows: int) -> dict[str, float]:
    return {k: round((after[k] - before.get(k, 0)) / max(workflows, 1), 2) for k in after}


async def event_gaps(dsn: str, workflow_id_like: str) -> dict[str, Any]:
    """Median milliseconds from each history event to the next, over the matching workflows
    (event_time is stamped by history when it processes the batch that wrote the event)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT workflow_id, event_id, event_type, event_time FROM history_events "
            "WHERE workflow_id LIKE $1 ORDER BY workflow_id, event_id",
            workflow_id_like,
        )
    finally:
        await conn.close()
    gaps: dict[str, list[float]] = {}
    order: list[str] = []
    prev: Any = None
    for r in rows:
        if prev is not None and prev["workflow_id"] == r["workflow_id"]:
            key = f"{prev['event_id']}:{prev['event_type']} -> {r['event_type']}"
            if key not in gaps:
                gaps[key] = []
                order.append(key)
            gaps[key].append((r["event_time"] - prev["event_time"]).total_seconds() * 1000.0)
        prev = r
    return {k: round(statistics.median(gaps[k]), 2) for k in order}
