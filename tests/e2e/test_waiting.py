"""Waiting on several things at once (gather over activities and a timer, workflow.wait,
workflow.as_completed, wait_condition with a timeout), embedded and on the real stack; the
history is then replayed by a fresh worker process's rules (the Replayer) without disagreement."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from tidal import activity, workflow
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Replayer, Worker

from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

TQ = "waiting"
T = timedelta(seconds=30)


@activity.defn
async def after(name: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return name


@workflow.defn
class Waits:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> list[str]:
        out: list[str] = []
        both = await asyncio.gather(
            workflow.execute_activity(after, args=["g1", 0.0], start_to_close_timeout=T),
            workflow.execute_activity(after, args=["g2", 0.0], start_to_close_timeout=T),
            workflow.sleep(0.5),
        )
        out.append(f"gather:{both[0]},{both[1]}")
        slow = workflow.execute_activity(after, args=["slow", 1.5], start_to_close_timeout=T)
        fast = workflow.execute_activity(after, args=["fast", 0.0], start_to_close_timeout=T)
        for next_done in workflow.as_completed([slow, fast]):
            out.append(f"as_completed:{await next_done}")
        done, pending = await workflow.wait(
            [
                workflow.execute_activity(after, args=["quick", 0.0], start_to_close_timeout=T),
                asyncio.sleep(60),
            ],
            return_when=workflow.FIRST_COMPLETED,
        )
        for p in pending:
            p.cancel()
        out.append(f"wait:{len(done)}/{len(pending)}")
        try:
            await workflow.wait_condition(lambda: self.go, timeout=0.5)
            out.append("condition:met")
        except TimeoutError:
            out.append("condition:timed out")
        return out


async def scenario(client: Client) -> None:
    async with Worker(client, task_queue=TQ, workflows=[Waits], activities=[after]):
        handle = await client.start_workflow(Waits.run, id=f"waits-{uuid.uuid4()}", task_queue=TQ)
        assert await handle.result() == [
            "gather:g1,g2",
            "as_completed:fast",
            "as_completed:slow",
            "wait:1/1",
            "condition:timed out",
        ]
        history = await handle.fetch_history()
    types = [e.event_type for e in history.events]
    assert types.count("TimerFired") == 2 and types.count("TimerCanceled") == 1
    await Replayer(workflows=[Waits]).replay_workflow(history)


async def test_waiting_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        await scenario(env.client)
    finally:
        await env.shutdown()


async def test_waiting_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await scenario(client)
    finally:
        await client.close()
