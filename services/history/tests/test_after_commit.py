"""A committed batch's outbox is published while the shard applies and commits its next batch
(after_commit.py), in both modes (in-memory bus + SQLite, RabbitMQ + Postgres): the next batch does
not wait for the broker's confirms of the previous one, but its own messages still go out after
them (publish order per shard), and a batch whose publish fails is relayed, nothing lost. With
`publish_overlap` off (the default) only a timer fire's batch, or the batch after a lone
message's, starts that way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tidal_history import metrics
from tidal_history.app import build
from tidal_history.timer_keys import timer_key
from tidal_schema import WorkflowExecutionStatus, names
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    AddWorkflowTask,
    FireTimer,
    StartWorkflowExecution,
    TimerKind,
)
from tidal_server.bus import AmqpBus, Bus, ConnectionLostError, Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.shard_zero import publish_start, run_written
from tests.support.stack import wait_for


class _Gate:
    """Holds every publish to matching's exchange until opened: the broker's confirm of the
    shard's task publish, delayed. Everything else goes through."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.held = 0
        self.fail_next = False

    async def hold(self, messages: Sequence[OutMessage]) -> None:
        if any(m.exchange == names.MATCHING_EXCHANGE for m in messages):
            self.held += 1
            await self.open.wait()
            if self.fail_next:
                self.fail_next = False
                raise ConnectionLostError("the broker went away before confirming")


class _GatedMemoryBus(InMemoryBus):
    def __init__(self, gate: _Gate) -> None:
        super().__init__()
        self.gate = gate

    async def publish(self, message: OutMessage) -> None:
        await self.gate.hold([message])
        await super().publish(message)

    async def publish_many(self, messages: Sequence[OutMessage]) -> None:
        await self.gate.hold(messages)
        await super().publish_many(messages)


class _GatedAmqpBus(AmqpBus):
    def __init__(self, url: str, gate: _Gate) -> None:
        super().__init__(url, connection_name="tidal-test-after-commit")
        self.gate = gate

    async def publish(self, message: OutMessage) -> None:
        await self.gate.hold([message])
        await super().publish(message)

    async def publish_many(self, messages: Sequence[OutMessage]) -> None:
        await self.gate.hold(messages)
        await super().publish_many(messages)


@pytest.fixture
def publish_overlap() -> bool:
    return True


@pytest.fixture(params=["embedded", "stack"])
async def gated(
    request: pytest.FixtureRequest, tmp_path: Path, publish_overlap: bool
) -> AsyncIterator[tuple[Runtime, _Gate]]:
    gate = _Gate()
    bus: Bus
    if request.param == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
        bus = _GatedMemoryBus(gate)
    else:
        url = request.getfixturevalue("migrated_database_url")
        bus = _GatedAmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), gate)
    await migrate(url)
    await bus.connect()
    engine = create_engine(url)
    embedded = request.param == "embedded"
    overrides = {"history": {"publish_overlap": publish_overlap}}
    yield (
        Runtime(
            bus=bus, engine=engine, member_id="h1", shard_count=1, embedded=embedded, overrides=overrides
        ),
        gate,
    )
    gate.open.set()
    await engine.dispose()
    await bus.close()


@pytest.mark.parametrize("publish_overlap", [True, False])
async def test_the_next_batch_commits_while_the_previous_publish_waits(
    gated: tuple[Runtime, _Gate], publish_overlap: bool
) -> None:
    """With the overlap on, or off and the previous batch a lone message (one at a time: the run's
    next message is the only one waiting, so nothing is gained by letting others gather behind
    the confirm; it failed with the overlap off before)."""
    rt, gate = gated
    service = build(rt)
    await service.start()
    received: asyncio.Queue[str] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        assert isinstance(msg, AddWorkflowTask)
        await received.put(msg.task.workflow_id)
        await d.ack()

    try:
        await rt.bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        await rt.bus.consume(names.MATCHING_QUEUE, take)
        await publish_start(rt, "first")
        await wait_for(lambda: run_written(rt, "first"), timeout=15, what="the first start to commit")
        await wait_for(lambda: _held(gate, 1), timeout=15, what="the first task's publish to be held")
        # The broker has not confirmed the first batch's task: the second batch is applied and
        # committed meanwhile (before, the shard waited for the confirm, then the ack).
        await publish_start(rt, "second")
        await wait_for(lambda: run_written(rt, "second"), timeout=15, what="the second start to commit")
        await asyncio.sleep(0.2)  # give a wrong implementation the chance to publish out of order
        assert received.empty()
        gate.open.set()
        got = [await asyncio.wait_for(received.get(), 15) for _ in range(2)]
        assert got == ["first", "second"]  # publish order per shard

        async def outbox_drained() -> bool:
            async with rt.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return n == 0

        await wait_for(outbox_drained, timeout=15, what="the published rows to be deleted")
        assert received.empty()  # and nothing twice
    finally:
        await service.stop()


@pytest.mark.parametrize("publish_overlap", [True, False])
async def test_a_failed_publish_is_relayed_before_the_batch_committed_behind_it(
    gated: tuple[Runtime, _Gate], publish_overlap: bool
) -> None:
    """The first batch's publish fails after the second batch committed behind it: the second may
    not publish first (its rows would overtake); both go out through the relay, in order, and
    nothing is lost."""
    rt, gate = gated
    service = build(rt)
    await service.start()
    try:
        received = await _matching_tasks(rt)
        await publish_start(rt, "first")
        await wait_for(lambda: _held(gate, 1), timeout=15, what="the first task's publish to be held")
        await publish_start(rt, "second")
        await wait_for(lambda: run_written(rt, "second"), timeout=15, what="the second start to commit")
        gate.fail_next = True
        gate.open.set()
        await wait_for(
            lambda: {"first", "second"} <= set(received), timeout=20, what="both tasks to reach matching"
        )
        assert received.index("first") < received.index("second")

        async def outbox_drained() -> bool:
            async with rt.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return n == 0

        await wait_for(outbox_drained, timeout=15, what="the relayed rows to be deleted")
    finally:
        await service.stop()


@pytest.mark.parametrize("publish_overlap", [False])
async def test_a_timer_fire_is_applied_while_the_previous_batch_publishes(
    gated: tuple[Runtime, _Gate], publish_overlap: bool
) -> None:
    """Overlap off: a fire that arrives while the previous batch's publish waits for the broker is
    applied and committed at once (on main it waited for that publish, the replies and the acks);
    its own messages still go out after the previous batch's, and nothing is published twice."""
    rt, gate = gated
    service = build(rt)
    await service.start()
    try:
        received = await _matching_tasks(rt)
        start = StartWorkflowExecution(
            workflow_id="first",
            workflow_type="T",
            task_queue="q",
            request_id="first",
            workflow_run_timeout=timedelta(hours=1),
        )
        await _to_shard_zero(rt, start.model_dump_json().encode())
        await wait_for(lambda: run_written(rt, "first"), timeout=15, what="the start to commit")
        await wait_for(lambda: _held(gate, 1), timeout=15, what="the first task's publish to be held")
        run_id = await _run_id(rt, "first")
        fire = FireTimer(
            workflow_id="first",
            run_id=run_id,
            kind=TimerKind.WORKFLOW_RUN_TIMEOUT,
            key=timer_key(run_id, TimerKind.WORKFLOW_RUN_TIMEOUT),
        )
        await _to_shard_zero(rt, fire.model_dump_json().encode())

        async def timed_out() -> bool:
            async with rt.engine.connect() as conn:
                query = sa.select(t.executions.c.status).where(t.executions.c.run_id == run_id)
                status = (await conn.execute(query)).scalar_one()
            return bool(status == WorkflowExecutionStatus.TIMED_OUT.value)

        # The broker still holds the start's task: the fire's batch did not wait for it.
        await wait_for(timed_out, timeout=15, what="the fire to commit while the publish is held")
        assert received == []
        gate.open.set()
        await wait_for(lambda: _got(received, 1), timeout=15, what="the start's task to reach matching")

        async def outbox_drained() -> bool:
            async with rt.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return n == 0

        await wait_for(outbox_drained, timeout=15, what="the published rows to be deleted")
        assert received == ["first"]  # once
    finally:
        await service.stop()


@pytest.mark.parametrize("publish_overlap", [False])
async def test_a_start_delivered_again_while_its_publish_waits_is_not_applied_twice(
    gated: tuple[Runtime, _Gate], publish_overlap: bool
) -> None:
    """A lone start's batch is committed and its task publish held; the same start arrives again
    (a client's retry, a redelivery) and is taken at once: it finds the committed run (the cache
    is updated at the commit, before the publish) and is answered as a duplicate. One run, one
    task, nothing published twice once the broker confirms."""
    rt, gate = gated
    service = build(rt)
    await service.start()
    applied = metrics.MESSAGES.labels("StartWorkflowExecution")
    try:
        received = await _matching_tasks(rt)
        await publish_start(rt, "first")
        await wait_for(lambda: _held(gate, 1), timeout=15, what="the first task's publish to be held")
        before = applied._value.get()
        await publish_start(rt, "first")

        async def again() -> bool:
            return applied._value.get() >= before + 1

        await wait_for(again, timeout=15, what="the duplicate to be applied while the publish is held")
        assert gate.held == 1 and received == []
        gate.open.set()
        await wait_for(lambda: _got(received, 1), timeout=15, what="the task to reach matching")

        async def outbox_drained() -> bool:
            async with rt.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar_one()
            return n == 0

        await wait_for(outbox_drained, timeout=15, what="the published rows to be deleted")
        async with rt.engine.connect() as conn:
            runs = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.executions)
                    .where(t.executions.c.workflow_id == "first")
                )
            ).scalar_one()
        assert runs == 1
        assert received == ["first"]
    finally:
        await service.stop()


async def _matching_tasks(rt: Runtime) -> list[str]:
    """The workflow ids of the tasks that reach matching's queue, in order (each acked)."""
    received: list[str] = []

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        assert isinstance(msg, AddWorkflowTask)
        received.append(msg.task.workflow_id)
        await d.ack()

    await rt.bus.declare_queue(
        QueueSpec(name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)])
    )
    await rt.bus.consume(names.MATCHING_QUEUE, take)
    return received


async def _to_shard_zero(rt: Runtime, body: bytes) -> None:
    await rt.bus.publish(
        OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)
    )


async def _run_id(rt: Runtime, workflow_id: str) -> str:
    async with rt.engine.connect() as conn:
        run_id = (
            await conn.execute(
                sa.select(t.executions.c.run_id).where(t.executions.c.workflow_id == workflow_id)
            )
        ).scalar_one()
    return str(run_id)


async def _got(received: list[str], n: int) -> bool:
    return len(received) >= n


async def _held(gate: _Gate, n: int) -> bool:
    return gate.held >= n
