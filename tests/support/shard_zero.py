"""Driving a one-shard history service in tests: its runtime on either mode, a bus with matching's
queue declared, a start published to shard 0, and whether its run was written (the service's own
tables, read back through the runtime's engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_schema import names
from tidal_schema.messages import StartWorkflowExecution
from tidal_server.bus import AmqpBus, Bus, InMemoryBus, OutMessage, QueueSpec
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

__all__ = ["bus_with_matching_queue", "one_shard_runtime", "publish_start", "run_written"]


@asynccontextmanager
async def one_shard_runtime(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    *,
    connection_name: str,
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Runtime]:
    """A one-shard runtime with a fake clock: SQLite and the in-memory bus when the fixture's param
    is "embedded", else a migrated Postgres database and a fresh RabbitMQ vhost."""
    bus: Bus
    if request.param == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
        bus = InMemoryBus()
    else:
        url = request.getfixturevalue("migrated_database_url")
        bus = AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name=connection_name)
    await migrate(url)
    await bus.connect()
    engine = create_engine(url)
    try:
        yield Runtime(
            bus=bus,
            engine=engine,
            member_id="h1",
            shard_count=1,
            clock=FakeClock(),
            embedded=request.param == "embedded",
            overrides=overrides or {},
        )
    finally:
        await engine.dispose()
        await bus.close()


@asynccontextmanager
async def bus_with_matching_queue(
    request: pytest.FixtureRequest, *, connection_name: str
) -> AsyncIterator[Bus]:
    """A connected bus (RabbitMQ in a fresh vhost when the fixture's param is "amqp", else in
    memory) with matching's exchange and queue declared, for what history sends there."""
    bus: Bus = (
        AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name=connection_name)
        if request.param == "amqp"
        else InMemoryBus()
    )
    await bus.connect()
    try:
        await bus.declare_exchange(names.MATCHING_EXCHANGE, "direct")
        await bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        yield bus
    finally:
        await bus.close()


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
