"""On Postgres: an ACTIVITY_RETRY fire duplicated after its first delivery committed (the timer
service fires at least once) does not dispatch the attempt again, also after a history restart
that reloads the run from the database. The timer service and matching are played by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tidal_history.app import build
from tidal_schema import Failure, RetryPolicy, names
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    AddActivityTask,
    AddWorkflowTask,
    CompleteWorkflowTask,
    FailActivityTask,
    FireTimer,
    SignalWorkflowExecution,
    StartWorkflowExecution,
)
from tidal_server.bus import Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.clock import FakeClock
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


@pytest.fixture
async def runtime(fresh_database_url: str) -> AsyncIterator[Runtime]:
    await migrate(fresh_database_url)
    bus = InMemoryBus()
    await bus.connect()
    engine = create_engine(fresh_database_url)
    yield Runtime(bus=bus, engine=engine, member_id="h1", shard_count=1, clock=FakeClock(), embedded=True)
    await engine.dispose()
    await bus.close()


def _out(msg: object) -> OutMessage:
    body = msg.model_dump_json().encode()  # type: ignore[attr-defined]
    return OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)


async def test_a_duplicated_retry_fire_after_a_commit_and_a_restart_is_ignored(runtime: Runtime) -> None:
    bus = runtime.bus
    matching: asyncio.Queue[AddActivityTask | AddWorkflowTask] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        msg = MATCHING_MESSAGE.validate_json(d.body)
        assert isinstance(msg, AddActivityTask | AddWorkflowTask)
        await matching.put(msg)
        await d.ack()

    async def next_task() -> AddActivityTask | AddWorkflowTask:
        return await asyncio.wait_for(matching.get(), 20)

    service = build(runtime)
    await service.start()
    try:
        await bus.declare_queue(
            QueueSpec(
                name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)]
            )
        )
        await bus.consume(names.MATCHING_QUEUE, take)
        start = StartWorkflowExecution(workflow_id="wf", workflow_type="T", task_queue="q", request_id="r")
        await bus.request(_out(start), timeout=20)
        first = await next_task()
        assert isinstance(first, AddWorkflowTask)
        schedule = cmd.ScheduleActivityTask(
            activity_id="a",
            activity_type="act",
            task_queue="q",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
        )
        run_id = first.task.run_id
        ref = {"workflow_id": "wf", "run_id": run_id}
        await bus.publish(
            _out(
                CompleteWorkflowTask(
                    **ref, scheduled_event_id=first.task.scheduled_event_id, commands=(schedule,)
                )
            )
        )
        attempt1 = await next_task()
        assert isinstance(attempt1, AddActivityTask) and attempt1.task.attempt == 1
        sid = attempt1.task.scheduled_event_id
        await bus.publish(
            _out(FailActivityTask(**ref, scheduled_event_id=sid, attempt=1, failure=Failure(message="x")))
        )
        retry_row = sa.select(t.timers.c.body).where(t.timers.c.key.like("%/activity_retry/%"))

        async def retry_body() -> object:
            async with runtime.engine.connect() as conn:
                return (await conn.execute(retry_row)).scalar()

        await wait_for(retry_body, timeout=20, what="the retry timer row")
        fire = FireTimer.model_validate((await retry_body())["fire"])  # type: ignore[index]
        assert fire.attempt == 2

        await bus.publish(_out(fire))
        attempt2 = await next_task()
        assert isinstance(attempt2, AddActivityTask) and attempt2.task.attempt == 2

        # History restarts (the run is read back from Postgres), then the fire comes again. (Once
        # its outbox is drained: a restart relays rows not yet deleted, at least once by design.)
        async def outbox_drained() -> bool:
            async with runtime.engine.connect() as conn:
                return (await conn.execute(sa.select(sa.func.count()).select_from(t.outbox))).scalar() == 0

        await wait_for(outbox_drained, timeout=20, what="the outbox to drain")
        await service.stop()
        service = build(runtime)
        await service.start()
        await bus.publish(_out(fire))
        # A signal after the duplicate: its workflow task is published after anything the
        # duplicate could have caused, so it marks the point up to which nothing else came.
        signal = SignalWorkflowExecution(workflow_id="wf", signal_name="s", request_id="s1")
        await bus.request(_out(signal), timeout=20)
        after = await next_task()
        assert isinstance(after, AddWorkflowTask), f"the duplicated fire dispatched {after!r}"
        assert matching.empty()
    finally:
        await service.stop()
