"""The outbox: what a batch commits is published even when publishing fails right after the
commit (the rows stay in the database and are relayed once the bus takes them again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_history.api import start_workflow
from tidal_history.app import build
from tidal_history.mutation import Outcome
from tidal_schema import names
from tidal_schema.messages import MATCHING_MESSAGE, AddWorkflowTask, StartWorkflowExecution
from tidal_server.bus import Delivery, InMemoryBus, OutMessage, QueueSpec
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


async def test_outbox_rows_are_relayed_after_a_failed_publish(runtime: Runtime) -> None:
    service = build(runtime)
    await service.start()
    try:
        # Nothing takes matching's messages: the publish after the commit fails.
        await runtime.bus.delete_queue(names.MATCHING_QUEUE)
        start = StartWorkflowExecution(workflow_id="wf-1", workflow_type="T", task_queue="q", request_id="r1")
        await runtime.bus.publish(
            OutMessage(
                exchange=names.HISTORY_EXCHANGE,
                routing_key=names.shard_routing_key(0),
                body=start.model_dump_json().encode(),
            )
        )

        async def outbox_rows() -> int:
            async with runtime.engine.connect() as conn:
                return int(
                    (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
                )

        async def committed_but_unpublished() -> bool:
            return await outbox_rows() > 0

        await wait_for(committed_but_unpublished, timeout=15, what="the start to commit")
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def take(d: Delivery) -> None:
            await received.put(d.body)
            await d.ack()

        await runtime.bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        await runtime.bus.consume(names.MATCHING_QUEUE, take)
        msg = MATCHING_MESSAGE.validate_json(await asyncio.wait_for(received.get(), 15))
        assert isinstance(msg, AddWorkflowTask) and msg.task.workflow_id == "wf-1"

        async def drained() -> bool:
            return await outbox_rows() == 0

        await wait_for(drained, timeout=15, what="the outbox to drain")
    finally:
        await service.stop()


async def test_a_failed_batch_does_not_publish_confirmed_rows_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows the broker already confirmed (awaiting their deletion) are not relayed a second time
    when a later batch fails: each would be a second copy of a task, i.e. an activity run twice
    (found by the chaos suite after a Postgres restart). The failure here is a message that
    cannot be applied, isolated by bisection, which relays the shard's outbox first."""
    tasks: dict[str, int] = {}
    # The start itself (the operation table holds `handle`, which calls `start` by name).
    real_start = start_workflow.start

    # The schema now refuses every input that used to break a transition (a 10,000,000-day run
    # timeout overflowed datetime), at every edge including history's parse: so the transition
    # itself breaks for one workflow id, with the error that input raised.
    def overflows_for_bad(msg: StartWorkflowExecution, *args: Any, **kwargs: Any) -> Outcome:
        if msg.workflow_id == "bad":
            raise OverflowError("date value out of range")
        return real_start(msg, *args, **kwargs)

    monkeypatch.setattr(start_workflow, "start", overflows_for_bad)

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        if isinstance(msg, AddWorkflowTask):
            tasks[msg.task.workflow_id] = tasks.get(msg.task.workflow_id, 0) + 1
        await d.ack()

    service = build(runtime)
    await service.start()
    try:
        await runtime.bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        await runtime.bus.consume(names.MATCHING_QUEUE, take)
        for i in range(5):
            await _publish_start(
                runtime,
                StartWorkflowExecution(
                    workflow_id=f"good-{i}", workflow_type="T", task_queue="q", request_id=f"good-{i}"
                ),
            )
        await _publish_start(
            runtime,
            StartWorkflowExecution(workflow_id="bad", workflow_type="T", task_queue="q", request_id="bad"),
        )
        for i in range(5, 10):
            await _publish_start(
                runtime,
                StartWorkflowExecution(
                    workflow_id=f"good-{i}", workflow_type="T", task_queue="q", request_id=f"good-{i}"
                ),
            )
        await wait_for(lambda: len(tasks) == 10, timeout=20, what="a task for each good start")

        async def drained() -> bool:
            async with runtime.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return int(n) == 0

        await wait_for(drained, timeout=20, what="the outbox to drain")
        assert tasks == {f"good-{i}": 1 for i in range(10)}
    finally:
        await service.stop()


async def _publish_start(runtime: Runtime, start: StartWorkflowExecution) -> None:
    await runtime.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=start.model_dump_json().encode(),
        )
    )
