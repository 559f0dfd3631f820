"""Driving a one-shard history service in tests: publish a start to shard 0 and see whether its
run was written (the service's own tables, read back through the runtime's engine)."""

from __future__ import annotations

import sqlalchemy as sa
from tidal_schema import names
from tidal_schema.messages import StartWorkflowExecution
from tidal_server.bus import OutMessage
from tidal_server.db import tables as t
from tidal_server.service import Runtime

__all__ = ["publish_start", "run_written"]


async def publish_start(rt: Runtime, workflow_id: str) -> None:
    """A start of `workflow_id` (type T on task queue q, request id = the workflow id) to shard 0."""
    start = StartWorkflowExecution(
        workflow_id=workflow_id, workflow_type="T", task_queue="q", request_id=workflow_id
    )
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=start.model_dump_json().encode(),
        )
    )


async def run_written(rt: Runtime, workflow_id: str) -> bool:
    """Whether a run of `workflow_id` is in the executions table (its start committed)."""
    async with rt.engine.connect() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(t.executions)
                .where(t.executions.c.workflow_id == workflow_id)
            )
        ).scalar_one()
    return bool(n)
