"""An outbox row larger than the bus takes (issue 9, defect 5) must not wedge its shard: the
relay on takeover dead-letters it with the reason and the shard serves on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import names
from tidal_schema.messages import MATCHING_MESSAGE, AddWorkflowTask, StartWorkflowExecution
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, InMemoryBus, OutMessage
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for

LIMIT = 64 * 1024


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    await migrate(url)
    bus = InMemoryBus(max_message_bytes=LIMIT)
    await bus.connect()
    engine = create_engine(url)
    yield Runtime(
        bus=bus,
        engine=engine,
        member_id="h1",
        shard_count=1,
        embedded=True,
        overrides={"history": {"max_message_bytes": LIMIT}},
    )
    await engine.dispose()
    await bus.close()


async def test_an_oversized_outbox_row_is_dead_lettered_and_the_shard_serves(runtime: Runtime) -> None:
    # Left by an older version (a task with the whole history): the relay after a takeover must
    # publish it before the shard serves, and the bus refuses it.
    huge = json.dumps({"type": "AddWorkflowTask", "pad": "x" * (2 * LIMIT)}).encode()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.insert(t.outbox).values(
                shard_id=0,
                exchange=names.MATCHING_EXCHANGE,
                routing_key=names.MATCHING_ROUTING_KEY,
                body=huge,
                headers={},
            )
        )
    service = build(runtime)
    await service.start()
    try:
        tasks: asyncio.Queue[bytes] = asyncio.Queue()
        dead: asyncio.Queue[Delivery] = asyncio.Queue()

        async def take(d: Delivery) -> None:
            await tasks.put(d.body)
            await d.ack()

        async def take_dead(d: Delivery) -> None:
            await dead.put(d)
            await d.ack()

        await runtime.bus.consume(names.MATCHING_QUEUE, take)
        await runtime.bus.consume(DLQ_QUEUE, take_dead)
        await wait_for(lambda: 0 in service.processors, timeout=15, what="the shard to be acquired")
        start = StartWorkflowExecution(workflow_id="wf-1", workflow_type="T", task_queue="q", request_id="r1")
        await runtime.bus.publish(
            OutMessage(
                exchange=names.HISTORY_EXCHANGE,
                routing_key=names.shard_routing_key(0),
                body=start.model_dump_json().encode(),
            )
        )
        msg = MATCHING_MESSAGE.validate_json(await asyncio.wait_for(tasks.get(), 15))
        assert isinstance(msg, AddWorkflowTask) and msg.task.workflow_id == "wf-1"
        notice = await asyncio.wait_for(dead.get(), 15)
        assert str(notice.headers[H_DL_REASON]).startswith("too_large:")
        body = json.loads(notice.body)
        assert body["bytes"] == len(huge) and body["head"].startswith('{"type": "AddWorkflowTask"')

        async def drained() -> bool:
            async with runtime.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return int(n) == 0

        await wait_for(drained, timeout=15, what="the outbox to drain")
    finally:
        await service.stop()
