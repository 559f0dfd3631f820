"""Fewer messages (docs/performance.md, "Hops and messages"): history sends no ScheduleTimer for
a timer due beyond `tidal_server.timer_horizon.MESSAGE_HORIZON`; the timer service reads it from
the `timers` table before it is due. Run on the embedded server and on the real stack.

`received()` returns the timer service's `tidal_timer_messages_total` (ScheduleTimer(s) and
CancelTimer messages it consumed): in-process in the embedded mode, scraped from the timer's
/metrics on the stack."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tidal.client import Client
from tidal.worker import Worker

from tests.e2e.scenarios_hops import _DiesHoldingEagerTasks
from tests.support.workflows import GreetingWorkflow, TimerWorkflow, greet

Received = Callable[[], Awaitable[float]]


async def one_activity_workflow_sends_no_timer_message(
    client: Client, task_queue: str, received: Received
) -> None:
    """Its two 10 s workflow task timeouts, its 30 s start-to-close timeout and the retention
    check (a day after the close) all get rows and none a message (before: 4 per workflow)."""
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]):
        before = await received()
        for i in range(3):
            assert (
                await client.execute_workflow(
                    GreetingWorkflow.run, f"n{i}", id=f"few-{uuid.uuid4()}", task_queue=task_queue
                )
                == f"Hello, n{i}!"
            )
        assert await received() - before == 0


async def ten_second_task_timeout_fires_without_a_message(
    client: Client, task_queue: str, received: Received
) -> None:
    """The eager first task is lost with its worker; its timeout (the default 10 s, so no
    ScheduleTimer) is read from the table by the timer service and fires: WorkflowTaskTimedOut,
    attempt 2 through matching, the run completes."""
    async with _DiesHoldingEagerTasks(
        client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[greet]
    ) as w:
        w.dropped = []
        before = await received()
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            "late",
            id=f"few-lost-{uuid.uuid4()}",
            task_queue=task_queue,
            request_eager_start=True,
        )
        assert w.dropped == [handle.run_id]
        assert await handle.result() == "Hello, late!"
        assert await received() - before == 0
    events = (await handle.fetch_history()).events
    types = [e.event_type for e in events]
    assert types[:5] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
        "WorkflowTaskScheduled",
    ]
    timed_out = events[3].event_time - events[1].event_time
    assert timed_out >= timedelta(seconds=10), timed_out


async def one_second_user_timer_fires_on_time(client: Client, task_queue: str, received: Received) -> None:
    """A timer due within the horizon still goes by message, so it is not left to a read of
    the table that has already passed its due time (which only the sweep would catch, 10-20 s
    late): TimerFired comes within a few seconds of its due time on a loaded box."""
    async with Worker(client, task_queue=task_queue, workflows=[TimerWorkflow]):
        before = await received()
        handle = await client.start_workflow(
            TimerWorkflow.run, 1.0, id=f"few-timer-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.result()
        assert await received() - before >= 1
    events = (await handle.fetch_history()).events
    started = next(e for e in events if e.event_type == "TimerStarted")
    fired = next(e for e in events if e.event_type == "TimerFired")
    late = fired.event_time - started.event_time - timedelta(seconds=1)
    assert timedelta(0) <= late < timedelta(seconds=5), late
