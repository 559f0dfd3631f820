"""Messages for a run started earlier in the same batch see that run (it is not committed yet)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import WorkflowExecutionStatus, names
from tidal_schema.messages import StartWorkflowExecution, TerminateWorkflowExecution
from tidal_server.bus import InMemoryBus, OutMessage
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    engine = create_engine(url)
    yield Runtime(bus=bus, engine=engine, member_id="h1", shard_count=1, embedded=True)
    await engine.dispose()
    await bus.close()


async def test_terminate_right_after_start_in_one_batch_terminates_it(runtime: Runtime) -> None:
    service = build(runtime)
    await service.start()
    try:
        start = StartWorkflowExecution(workflow_id="wf-1", workflow_type="T", task_queue="q", request_id="r1")
        terminate = TerminateWorkflowExecution(workflow_id="wf-1", reason="changed my mind")
        # Published together, so the shard takes them in one batch.
        await runtime.bus.publish_many(
            [
                OutMessage(
                    exchange=names.HISTORY_EXCHANGE,
                    routing_key=names.shard_routing_key(0),
                    body=m.model_dump_json().encode(),
                )
                for m in (start, terminate)
            ]
        )

        async def status() -> str | None:
            async with runtime.engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.select(t.executions.c.status).where(t.executions.c.workflow_id == "wf-1")
                    )
                ).first()
            return None if row is None else str(row.status)

        async def terminated() -> bool:
            return await status() == WorkflowExecutionStatus.TERMINATED.value

        await wait_for(terminated, timeout=15, what="the run to be terminated")
    finally:
        await service.stop()
