"""A worker's completion naming a sticky queue too long for AMQP (the schema lets a completion name
up to 1,000 characters; AMQP carries 255 bytes), end to end through one history shard on both
modes: the run's next workflow task reaches matching, and the shard goes on (its outbox drains,
a later start commits). Before, on RabbitMQ, the publish to that name raised ValueError after the
batch committed, and so did every relay of the row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    AddWorkflowTask,
    CompleteWorkflowTask,
    SignalWorkflowExecution,
    StartWorkflowExecution,
)
from tidal_server.bus import Delivery, OutMessage, QueueSpec
from tidal_server.db import tables as t
from tidal_server.service import Runtime

from tests.support.shard_zero import one_shard_runtime, run_written
from tests.support.stack import wait_for

LONG = names.STICKY_QUEUE_PREFIX + "é" * 122  # 257 bytes in 135 characters


@pytest.fixture(params=["embedded", "stack"])
async def rt(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with one_shard_runtime(request, tmp_path, connection_name="tidal-test-sticky-name") as runtime:
        yield runtime


async def test_a_completion_naming_a_sticky_queue_too_long_for_amqp_stalls_nothing(rt: Runtime) -> None:
    await rt.bus.declare_exchange(names.MATCHING_EXCHANGE, "direct")
    await rt.bus.declare_queue(
        QueueSpec(name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)])
    )
    tasks: asyncio.Queue[AddWorkflowTask] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        if isinstance(msg, AddWorkflowTask):
            await tasks.put(msg)
        await d.ack()

    await rt.bus.consume(names.MATCHING_QUEUE, take)
    service = build(rt)
    await service.start()
    try:
        await _send(
            rt, StartWorkflowExecution(workflow_id="wf", workflow_type="T", task_queue="q", request_id="s1")
        )
        first = await asyncio.wait_for(tasks.get(), 15)
        run_id = first.task.run_id
        await _send(
            rt,
            CompleteWorkflowTask(
                workflow_id="wf",
                run_id=run_id,
                scheduled_event_id=first.task.scheduled_event_id,
                sticky_queue=LONG,
            ),
        )
        await _send(rt, SignalWorkflowExecution(workflow_id="wf", signal_name="go", request_id="sig-1"))
        second = await asyncio.wait_for(tasks.get(), 15)
        assert second.task.run_id == run_id and second.task.scheduled_event_id > first.task.scheduled_event_id
        await _send(
            rt,
            StartWorkflowExecution(workflow_id="after", workflow_type="T", task_queue="q", request_id="s2"),
        )
        await wait_for(lambda: run_written(rt, "after"), timeout=15, what="a later start")
        await wait_for(lambda: _outbox_empty(rt), timeout=15, what="the shard's outbox to drain")
    finally:
        await service.stop()


async def _send(
    rt: Runtime, msg: StartWorkflowExecution | CompleteWorkflowTask | SignalWorkflowExecution
) -> None:
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=msg.model_dump_json().encode(),
        )
    )


async def _outbox_empty(rt: Runtime) -> bool:
    async with rt.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
    return n == 0
