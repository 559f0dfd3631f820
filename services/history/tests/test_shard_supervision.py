"""A history shard's processing loop survives a database error in its idle path (issue 9,
defect 3), and if the loop dies anyway it is supervised: the shard is released and re-acquired,
and the crash is counted and visible in the process health. If the shard cannot even be released,
the process is marked failed, which makes the host exit non-zero."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from tidal_history.app import build
from tidal_history.shard import ShardProcessor
from tidal_history.store import HistoryStore
from tidal_schema.messages import StartWorkflowExecution
from tidal_server.bus import Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.shard_zero import publish_start, run_written
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


def _crashes() -> float:
    return (
        REGISTRY.get_sample_value("tidal_loop_crashes_total", {"service": "history", "loop": "shard"}) or 0.0
    )


async def test_a_store_error_in_the_idle_path_does_not_stop_the_shard(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[list[int]] = []
    real = HistoryStore.delete_outbox

    async def failing_once(self: HistoryStore, seqs: list[int]) -> None:
        if not failed:
            failed.append(list(seqs))
            raise ConnectionResetError("the database went away")
        await real(self, seqs)

    monkeypatch.setattr(HistoryStore, "delete_outbox", failing_once)
    service = build(runtime)
    await service.start()
    try:
        await publish_start(runtime, "before")
        await wait_for(lambda: run_written(runtime, "before"), timeout=20, what="the first start")
        # Idle for a second with published outbox rows: the loop deletes them, which fails once.
        await wait_for(lambda: bool(failed), timeout=20, what="the idle-path delete to fail")
        await publish_start(runtime, "after")
        await wait_for(lambda: run_written(runtime, "after"), timeout=20, what="a start after the failure")

        async def outbox_empty() -> bool:
            async with runtime.engine.connect() as conn:
                return (
                    await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))
                ).scalar_one() == 0

        await wait_for(outbox_empty, timeout=20, what="the published rows deleted on a later idle pass")
    finally:
        await service.stop()


async def test_a_crashed_shard_loop_is_released_and_reacquired(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed: list[bool] = []
    real = ShardProcessor._delete_published

    async def buggy_once(self: ShardProcessor) -> None:
        if not crashed and self._published:
            crashed.append(True)
            raise RuntimeError("a bug in the shard loop")
        await real(self)

    monkeypatch.setattr(ShardProcessor, "_delete_published", buggy_once)
    crashes = _crashes()
    service: Any = build(runtime)
    await service.start()
    try:
        first = service.processors[0]
        await publish_start(runtime, "before")
        await wait_for(lambda: run_written(runtime, "before"), timeout=20, what="the first start")
        await wait_for(lambda: bool(crashed), timeout=20, what="the loop to crash")
        # Released and re-acquired by this member (membership ticks at once, no heartbeat needed).
        await wait_for(
            lambda: service.processors.get(0) not in (None, first) and service.processors[0].running,
            timeout=20,
            what="the shard re-acquired with a new processor",
        )
        assert _crashes() == crashes + 1
        await wait_for(runtime.health.ready, timeout=20, what="the process ready again")
        await publish_start(runtime, "after")
        await wait_for(lambda: run_written(runtime, "after"), timeout=20, what="a start after the crash")
    finally:
        await service.stop()


async def test_a_shard_that_cannot_be_released_fails_the_process(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def buggy(self: ShardProcessor) -> None:
        raise RuntimeError("a bug in the shard loop")

    real_stop = ShardProcessor.stop
    broken: list[bool] = []

    async def stop_fails_once(self: ShardProcessor) -> None:
        if not broken:
            broken.append(True)
            raise RuntimeError("cannot cancel the consumer")
        await real_stop(self)

    service = build(runtime)
    await service.start()
    try:
        monkeypatch.setattr(ShardProcessor, "stop", stop_fails_once)
        monkeypatch.setattr(ShardProcessor, "_delete_published", buggy)
        await publish_start(runtime, "x")
        await wait_for(lambda: runtime.health.failed.is_set(), timeout=20, what="the process marked failed")
        assert runtime.health.fatal_reason is not None
        assert "could not be released" in runtime.health.fatal_reason, runtime.health.fatal_reason
        assert not runtime.health.ready()
    finally:
        await service.stop()


async def test_a_shard_stopped_as_a_delivery_arrives_stops(runtime: Runtime) -> None:
    """Stopping a shard's processor (a rebalance, a shutdown) in the turn a delivery reaches its
    inbox stops it. Python 3.11's asyncio.wait_for, which the loop's idle wait used, returned the
    delivery and swallowed the cancel: the loop ran on and stop() waited for it for ever."""
    service: Any = build(runtime)
    await service.start()
    try:
        await wait_for(lambda: 0 in service.processors, timeout=20, what="the shard acquired")
        processor = service.processors[0]
        # A real delivery of a start, taken from a scratch queue, handed to the inbox directly.
        scratch = "test.scratch"
        await runtime.bus.declare_queue(QueueSpec(name=scratch))
        taken: list[Delivery] = []

        async def take(d: Delivery) -> None:
            taken.append(d)

        await runtime.bus.consume(scratch, take)
        msg = StartWorkflowExecution(workflow_id="late", workflow_type="T", task_queue="q", request_id="late")
        await runtime.bus.publish(
            OutMessage(exchange="", routing_key=scratch, body=msg.model_dump_json().encode())
        )
        await wait_for(lambda: bool(taken), timeout=20, what="the scratch delivery")
        # The loop is in its idle wait: its get() is the inbox's one pending getter (checked and
        # acted on in one turn, so the loop cannot leave the wait in between).
        inbox: Any = processor._inbox
        await wait_for(
            lambda: any(not getter.done() for getter in inbox._getters),
            timeout=20,
            interval=0.001,
            what="the loop waiting on its inbox",
        )
        task = processor._task.task
        processor._inbox.put_nowait(taken[0])  # wakes the wait's own get() first...
        asyncio.get_running_loop().call_soon(task.cancel)  # ...then the cancel, in the same turns
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except asyncio.CancelledError:
            pass
        except TimeoutError:
            raise AssertionError("the shard loop ran on after it was cancelled") from None
        assert task.done()
    finally:
        await service.stop()
