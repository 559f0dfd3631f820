"""The frontend's run read on SQLite's driver (store.py, the embedded mode's every result long
poll and describe) hands back what SQLAlchemy's types handed back for the same row: aware UTC
datetimes, parsed documents, JSON null as None, by run id and through current_executions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.store import ExecutionRow, ReadStore
from tidal_schema import WorkflowExecutionStatus
from tidal_server.db import current_executions as ce
from tidal_server.db import executions as ex
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate

START = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "sqlite-on-loop"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'f.sqlite3'}"
    await migrate(url)
    engine = create_engine(url, sqlite_on_loop=request.param == "sqlite-on-loop")
    yield engine
    await engine.dispose()


async def _insert(engine: AsyncEngine, run_id: str, **values: Any) -> None:
    row: dict[str, Any] = dict(
        namespace="default",
        workflow_id="wf",
        run_id=run_id,
        shard_id=0,
        workflow_type="Greet",
        task_queue="tq",
        status="Running",
        start_time=START,
        close_time=None,
        next_event_id=3,
        version=1,
        state={"a": [1, "\u00e9"], "n": None},
        memo={"m": {"x": 1}},
        search_attributes={},
        result=None,
    )
    row.update(values)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(ex).values(**row))


async def _by_sqlalchemy(engine: AsyncEngine, run_id: str | None) -> ExecutionRow | None:
    """The reader store.py had before, on SQLAlchemy Core: the reference."""
    query = sa.select(ex).where(ex.c.namespace == "default", ex.c.workflow_id == "wf")
    if run_id:
        query = query.where(ex.c.run_id == run_id)
    else:
        query = query.join(ce, sa.and_(ce.c.workflow_id == ex.c.workflow_id, ce.c.run_id == ex.c.run_id))
    async with engine.connect() as conn:
        r = (await conn.execute(query)).first()
    if r is None:
        return None
    return ExecutionRow(
        namespace=r.namespace,
        workflow_id=r.workflow_id,
        run_id=r.run_id,
        workflow_type=r.workflow_type,
        task_queue=r.task_queue,
        status=WorkflowExecutionStatus(r.status),
        start_time=r.start_time,
        close_time=r.close_time,
        next_event_id=int(r.next_event_id),
        state=r.state or {},
        memo=r.memo or {},
        search_attributes=r.search_attributes or {},
        result=r.result,
    )


async def test_the_driver_read_matches_sqlalchemys(engine: AsyncEngine) -> None:
    store = ReadStore(engine)
    await _insert(engine, "r-open")
    closed = START.replace(microsecond=0)  # a whole second: the stored text's shortest form
    await _insert(
        engine,
        "r-closed",
        status="Completed",
        close_time=closed,
        result={"result": [{"metadata": {"encoding": "json/plain"}, "data": "\u2603"}]},
        state={},
        memo={},
    )
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(ce).values(
                namespace="default",
                workflow_id="wf",
                run_id="r-closed",
                status="Completed",
                start_request_id="q",
                shard_id=0,
            )
        )
    for run_id in ("r-open", "r-closed", None, "missing"):
        got = await store.execution("default", "wf", run_id)
        assert got == await _by_sqlalchemy(engine, run_id)
    got = await store.execution("default", "wf", None)
    assert got is not None and got.run_id == "r-closed"
    assert got.close_time == closed and got.close_time.tzinfo is UTC
    open_run = await store.execution("default", "wf", "r-open")
    assert open_run is not None and open_run.start_time == START and open_run.result is None
    assert open_run.state == {"a": [1, "\u00e9"], "n": None}
    assert await store.execution("default", "other", None) is None
