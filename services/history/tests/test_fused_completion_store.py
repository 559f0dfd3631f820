"""The fused completion through the history service, on SQLite and on Postgres: the eager
ActivityTask a worker's queue receives carries the run's next event id; a fused result accepted
is committed as one set of events with the worker's ids; its duplicate changes nothing; a fused
result refused (a signal got in first) commits the result alone and sends the worker its task.
Messages built by hand, as a worker would send them (the worker's side is tested in the SDK)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from tidal_history.app import build
from tidal_schema import Payload, limits, names
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ActivityTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    WorkflowTask,
)
from tidal_server.bus import Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for

STICKY = "tidal.sticky.worker-1-fused"


def _fused_count(result: str) -> float:
    return REGISTRY.get_sample_value("tidal_history_fused_completions_total", {"result": result}) or 0.0


async def _runtime(url: str) -> Runtime:
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    return Runtime(bus=bus, engine=create_engine(url), member_id="h1", shard_count=1, embedded=True)


@pytest.fixture(params=["sqlite", "postgres"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Runtime]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}"
    else:
        url = str(request.getfixturevalue("fresh_database_url"))
    rt = await _runtime(url)
    yield rt
    await rt.engine.dispose()
    await rt.bus.close()


class Worker:
    """The worker's own queue: what history hands it, in order."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.got: asyncio.Queue[ActivityTask | WorkflowTask] = asyncio.Queue()

    async def listen(self) -> None:
        async def take(d: Delivery) -> None:
            body = d.body.decode()
            kind = ActivityTask if '"type":"ActivityTask"' in body else WorkflowTask
            await self.got.put(kind.model_validate_json(d.body))
            await d.ack()

        await self.rt.bus.declare_queue(QueueSpec(name=STICKY, durable=False))
        await self.rt.bus.consume(STICKY, take)

    async def next(self) -> ActivityTask | WorkflowTask:
        return await asyncio.wait_for(self.got.get(), 20)


async def _send(rt: Runtime, msg: Any) -> None:
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=msg.model_dump_json().encode(),
        )
    )


async def _events(rt: Runtime, wid: str) -> list[tuple[int, str, dict[str, Any]]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(t.history_events.c.event_id, t.history_events.c.event_type, t.history_events.c.data)
                .where(t.history_events.c.workflow_id == wid)
                .order_by(t.history_events.c.event_id)
            )
        ).all()
    return [(int(r[0]), str(r[1]), r[2] if isinstance(r[2], dict) else {}) for r in rows]


async def _status(rt: Runtime, wid: str) -> str | None:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(t.executions.c.status).where(t.executions.c.workflow_id == wid))
        ).first()
    return None if row is None else str(row[0])


async def _run_id(rt: Runtime, wid: str) -> str:
    async with rt.engine.connect() as conn:
        return str(
            (
                await conn.execute(sa.select(t.executions.c.run_id).where(t.executions.c.workflow_id == wid))
            ).scalar_one()
        )


async def _to_eager(rt: Runtime, worker: Worker, wid: str) -> tuple[str, ActivityTask]:
    """Start `wid` and complete its first task from the worker's queue with an eager activity."""
    await _send(
        rt, StartWorkflowExecution(workflow_id=wid, workflow_type="T", task_queue="q", request_id=wid)
    )

    async def started() -> bool:
        return await _status(rt, wid) is not None

    await wait_for(started, timeout=20, what="the start")
    run_id = await _run_id(rt, wid)
    schedule = cmd.ScheduleActivityTask(
        activity_id="a1",
        activity_type="charge",
        task_queue="q",
        start_to_close_timeout=timedelta(seconds=30),
        request_eager_execution=True,
    )
    await _send(
        rt,
        CompleteWorkflowTask(
            workflow_id=wid,
            run_id=run_id,
            scheduled_event_id=2,
            commands=(schedule,),
            sticky_queue=STICKY,
            identity="worker-1",
        ),
    )
    task = await worker.next()
    assert isinstance(task, ActivityTask) and task.workflow_id == wid
    return run_id, task


def _fused(task: ActivityTask, commands: tuple[cmd.Command, ...]) -> CompleteActivityTask:
    s = task.next_event_id
    return CompleteActivityTask(
        workflow_id=task.workflow_id,
        run_id=task.run_id,
        scheduled_event_id=task.scheduled_event_id,
        attempt=task.attempt,
        result=(Payload(data="charged"),),
        identity="worker-1",
        workflow_task=CompleteWorkflowTask(
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=s + 2,
            seen_event_id=s + 2,
            commands=commands,
            sticky_queue=STICKY,
            identity="worker-1",
        ),
    )


async def _barrier(rt: Runtime, wid: str) -> None:
    """Everything sent to the shard before this is applied (one shard, in order)."""
    await _send(
        rt, StartWorkflowExecution(workflow_id=wid, workflow_type="T", task_queue="q", request_id=wid)
    )

    async def started() -> bool:
        return await _status(rt, wid) is not None

    await wait_for(started, timeout=20, what="the barrier start")


async def test_accepted_once_then_a_duplicate_changes_nothing(runtime: Runtime) -> None:
    rt = runtime
    service = build(rt)
    await service.start()
    worker = Worker(rt)
    await worker.listen()
    try:
        _, task = await _to_eager(rt, worker, "wf")
        accepted, stale = _fused_count("accepted"), _fused_count("stale")
        assert task.next_event_id == 6  # 1..5: started, task, its start and completion, scheduled
        done = (cmd.CompleteWorkflowExecution(result=(Payload(data="done"),)),)
        await _send(rt, _fused(task, done))

        async def completed() -> bool:
            return await _status(rt, "wf") == "Completed"

        await wait_for(completed, timeout=20, what="the fused completion to close the run")
        events = await _events(rt, "wf")
        assert [(i, e) for i, e, _ in events][5:] == [
            (6, "ActivityTaskStarted"),
            (7, "ActivityTaskCompleted"),
            (8, "WorkflowTaskScheduled"),
            (9, "WorkflowTaskStarted"),
            (10, "WorkflowTaskCompleted"),
            (11, "WorkflowExecutionCompleted"),
        ]
        await _send(rt, _fused(task, done))  # redelivered
        await _barrier(rt, "barrier-1")
        assert await _events(rt, "wf") == events
        assert (_fused_count("accepted"), _fused_count("stale")) == (accepted + 1, stale + 1)
        assert worker.got.empty()  # no workflow task for the worker, ever
    finally:
        await service.stop()


async def test_refused_applies_the_result_alone_and_sends_the_task(runtime: Runtime) -> None:
    rt = runtime
    service = build(rt)
    await service.start()
    worker = Worker(rt)
    await worker.listen()
    try:
        run_id, task = await _to_eager(rt, worker, "wf")
        s = task.next_event_id
        await _send(
            rt, SignalWorkflowExecution(workflow_id="wf", run_id=run_id, signal_name="go", request_id="sig-1")
        )
        first = await worker.next()  # the signal's task
        assert isinstance(first, WorkflowTask) and first.first_event_id <= s
        refused = _fused_count("refused")
        await _send(rt, _fused(task, (cmd.CompleteWorkflowExecution(result=(Payload(data="no"),)),)))
        await _barrier(rt, "barrier-1")
        assert _fused_count("refused") == refused + 1
        assert await _status(rt, "wf") == "Running"
        types = [e for _, e, _ in await _events(rt, "wf")]
        assert types[s - 1 :] == ["WorkflowExecutionSignaled", "WorkflowTaskScheduled"]  # result buffered
        # The worker completes the signal's task: the result is written after it, and a new task sent.
        await _send(
            rt,
            CompleteWorkflowTask(
                workflow_id="wf",
                run_id=run_id,
                scheduled_event_id=first.scheduled_event_id,
                sticky_queue=STICKY,
                identity="worker-1",
            ),
        )
        nxt = await worker.next()
        assert isinstance(nxt, WorkflowTask)
        carried = [e.event_type for e in nxt.events]
        assert "ActivityTaskCompleted" in carried and "WorkflowExecutionCompleted" not in carried
        assert await _status(rt, "wf") == "Running"
    finally:
        await service.stop()


@pytest.fixture
async def pg_poison_runtime(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Runtime]:
    """Postgres, fast poison retries, and the schema's NUL escape off, so that a NUL reaches the
    store as a foreign publisher's would (as in test_poison.py)."""
    monkeypatch.setattr(limits, "_NUL_ESCAPE", re.compile("(?!)"))
    await migrate(fresh_database_url)
    bus = InMemoryBus()
    await bus.connect()
    rt = Runtime(
        bus=bus,
        engine=create_engine(fresh_database_url),
        member_id="h1",
        shard_count=1,
        embedded=True,
        overrides={"history": {"poison_backoff_seconds": 0.05, "batch_max": 64}},
    )
    yield rt
    await rt.engine.dispose()
    await bus.close()


async def test_a_fused_task_postgres_cannot_store_still_counts_the_result(pg_poison_runtime: Runtime) -> None:
    """The nested commands hold a NUL (jsonb refuses it on every try): after the poison retries
    the message is applied as the result alone, never dead-lettered with an acknowledged result;
    the worker gets its task and the marker is never written. The tries whose commit failed
    count no accepted fused completion (the metric counts committed batches only)."""
    rt = pg_poison_runtime
    service = build(rt)
    await service.start()
    worker = Worker(rt)
    await worker.listen()
    try:
        _, task = await _to_eager(rt, worker, "wf")
        relayed: list[ActivityTask] = []
        accepted = _fused_count("accepted")
        bad = (cmd.RecordMarker(marker_name="m", details={"d": (Payload(data="a\x00b"),)}),)
        await _send(rt, _fused(task, bad))
        nxt = await worker.next()
        while isinstance(nxt, ActivityTask):
            relayed.append(nxt)
            nxt = await worker.next()
        # The failed commits did not forget that the eager attempt's row was confirmed: the relay
        # before each retry did not send it again (it did, run twice, before shard.py kept them).
        assert relayed == []
        assert isinstance(nxt, WorkflowTask)
        types = [e for _, e, _ in await _events(rt, "wf")]
        assert types[5:] == ["ActivityTaskStarted", "ActivityTaskCompleted", "WorkflowTaskScheduled"]
        assert await _status(rt, "wf") == "Running"
        assert _fused_count("accepted") == accepted
    finally:
        await service.stop()
