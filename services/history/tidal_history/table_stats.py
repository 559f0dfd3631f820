"""The first statistics of history's hot tables, taken as soon as they hold rows (Postgres only).

A new database's tables have no statistics until autovacuum analyzes them, and autovacuum looks
at a database once per `autovacuum_naptime` (a minute by default). Until then the planner assumes
that an equality on any column keeps 0.5% of the rows, so an index that leads with `namespace`
(one value in most clusters) or `shard_id` (a few) looks as selective as the primary key, and it
picks them for the batch's key lookups: a walk of the namespace's entries per run updated, of the
shard's timers per timer deleted (docs/performance.md, "Plans made for the keys of each batch").
One ANALYZE once the tables hold a hundred runs or so gives the planner the columns' real
distributions, which then stay true as the tables grow (row counts come from the table's current
size at each plan), and invalidates the plans cached before it. Autovacuum's own analyses follow
at its pace.

`FirstStatistics.run` is a supervised loop of the history process: it waits until this process
has committed `after_runs` new runs, analyzes those of `TABLES` that have no statistics yet
(autovacuum's or anyone's), retrying a failed try, and then has nothing left to do. A role that
does not own the tables gets a warning from Postgres and no statistics, as it had before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db.raw import is_postgres, pg_connection
from tidal_server.faults import describe

__all__ = ["TABLES", "FirstStatistics"]

log = logging.getLogger("tidal.history")

# The tables whose key lookups the batch commit and the starts' read plan (the append-only
# history_events and the short-lived outbox are looked up by their primary key only).
TABLES = ("executions", "current_executions", "timers")
_MAX_RETRY_SECONDS = 300.0

# The hot tables of the current schema that have no statistics at all.
_WITHOUT_STATISTICS = """
SELECT c.relname FROM pg_class AS c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])
    AND NOT EXISTS (SELECT 1 FROM pg_statistic AS s WHERE s.starelid = c.oid)
ORDER BY c.relname
"""


class FirstStatistics:
    """See the module docstring. `note_new_runs` is called after each committed batch."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        after_runs: int = 100,
        tables: Sequence[str] = TABLES,
        retry_seconds: float = 5.0,
    ) -> None:
        self._engine = engine
        self._retry_seconds = retry_seconds
        self._after_runs = after_runs
        self._tables = list(tables)
        self._runs = 0
        self._grown = asyncio.Event()
        self.done = not is_postgres(engine)

    def note_new_runs(self, count: int) -> None:
        if self.done or not count:
            return
        self._runs += count
        if self._runs >= self._after_runs:
            self._grown.set()

    async def analyze_missing(self) -> list[str]:
        """ANALYZE the tables of `tables` that have no statistics; returns the ones that have
        statistics now (an empty table, or one this role may not analyze, gets none)."""
        async with pg_connection(self._engine) as db:
            missing = [r["relname"] for r in await db.fetch(_WITHOUT_STATISTICS, self._tables)]
            if not missing:
                return []
            async with db.transaction():
                # ANALYZE waits for a lock that DDL (a migration) holds; it must not queue the
                # hot path's statements behind it for long. A timeout fails this try; the
                # supervisor starts the loop again after its backoff.
                await db.execute("SET LOCAL lock_timeout = '2s'")
                for name in missing:
                    # Names from the fixed list, matched against pg_class: nothing to quote.
                    await db.execute(f'ANALYZE "{name}"')
            left = {r["relname"] for r in await db.fetch(_WITHOUT_STATISTICS, missing)}
        return [name for name in missing if name not in left]

    async def run(self) -> None:
        """Wait for the tables to grow, analyze what has no statistics, then idle until
        cancelled (a supervised loop must not return). A failed try (the database away, a lock
        held by DDL) is retried here, with a doubling pause: this is an optimisation, and a
        crash of a supervised loop would mark the process not ready while it backs off."""
        if not self.done:
            await self._grown.wait()
        pause = self._retry_seconds
        while not self.done:
            try:
                analyzed = await self.analyze_missing()
            except Exception as exc:
                log.warning("first statistics not taken (%s); next try in %.0f s", describe(exc), pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_RETRY_SECONDS)
                continue
            if analyzed:
                log.info("analyzed %s (no statistics yet)", ", ".join(analyzed))
            self.done = True
        await asyncio.Event().wait()
