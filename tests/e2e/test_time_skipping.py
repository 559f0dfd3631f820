"""WorkflowEnvironment.start_time_skipping(): durable timers cost no real time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from tidal import activity, workflow
from tidal.client import WorkflowExecutionStatus
from tidal.common import RetryPolicy
from tidal.exceptions import ApplicationError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

TQ = "skipping"


@activity.defn
async def stamp(label: str) -> str:
    return label


@activity.defn
async def fails_twice(key: str) -> int:
    if activity.info().attempt < 3:
        raise ApplicationError("not yet")
    return activity.info().attempt


@workflow.defn
class LongSleeper:
    @workflow.run
    async def run(self) -> list[str]:
        start = workflow.now()
        await workflow.sleep(timedelta(days=30))
        await workflow.execute_activity(stamp, "mid", start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(timedelta(hours=1))
        # Retry backoff is a durable timer too: 10 min, then 20 min.
        attempt = await workflow.execute_activity(
            fails_twice,
            "k",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(minutes=10)),
        )
        return [start.isoformat(), workflow.now().isoformat(), str(attempt)]


@workflow.defn
class Deadline:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: self.approved, timeout=timedelta(hours=2))
        except TimeoutError:
            return "expired"
        return "approved"

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping()
    async with Worker(
        env.client, task_queue=TQ, workflows=[LongSleeper, Deadline], activities=[stamp, fails_twice]
    ):
        yield env
    await env.shutdown()


async def test_a_month_of_timers_passes_while_waiting_for_the_result(env: WorkflowEnvironment) -> None:
    assert env.supports_time_skipping
    before = await env.get_current_time()
    real = time.monotonic()
    handle = await env.client.start_workflow(LongSleeper.run, id=f"sleep-{uuid.uuid4()}", task_queue=TQ)
    start, end, attempt = await handle.result()
    assert time.monotonic() - real < 30  # a month, an hour and two backoffs: seconds at most
    elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    assert elapsed >= timedelta(days=30, hours=1, minutes=30)
    assert elapsed < timedelta(days=30, hours=1, minutes=31)
    assert attempt == "3"
    assert await env.get_current_time() - before >= timedelta(days=30)
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count("TimerFired") == 2


async def test_env_sleep_moves_time_only_as_far_as_asked(env: WorkflowEnvironment) -> None:
    approved = await env.client.start_workflow(Deadline.run, id=f"dl-{uuid.uuid4()}", task_queue=TQ)
    expired = await env.client.start_workflow(Deadline.run, id=f"dl-{uuid.uuid4()}", task_queue=TQ)
    await env.sleep(timedelta(hours=1))
    # Nothing waits on a result, so time stands still apart from env.sleep: both still running.
    assert (await approved.describe()).status is WorkflowExecutionStatus.RUNNING
    await approved.signal(Deadline.approve)
    assert await approved.result() == "approved"
    await env.sleep(timedelta(hours=1, minutes=1))
    assert (await expired.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert await expired.result() == "expired"


async def test_local_environment_does_not_skip() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        assert not env.supports_time_skipping
        assert not env.supports_time_skipping_v1 and not env.supports_time_skipping_v2
        with env.auto_time_skipping_disabled(), env.with_time_skipping_disabled():
            pass  # no-ops without time skipping, as in temporalio
    finally:
        await env.shutdown()


async def test_auto_time_skipping_disabled_makes_result_waits_real(env: WorkflowEnvironment) -> None:
    assert env.supports_time_skipping_v1 and not env.supports_time_skipping_v2
    handle = await env.client.start_workflow(Deadline.run, id=f"dl-{uuid.uuid4()}", task_queue=TQ)
    before = await env.get_current_time(handle)
    with env.auto_time_skipping_disabled():
        # Two hours of workflow time cannot pass in a second of real time without skipping.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(handle.result(), 1)
        assert await env.get_current_time() - before < timedelta(minutes=1)
    assert await handle.result() == "expired"  # skipping again
    assert await env.get_current_time(handle) - before >= timedelta(hours=2)


async def test_connect_client_gives_another_client_of_the_environment(env: WorkflowEnvironment) -> None:
    other = await env.connect_client(identity="second")
    try:
        assert other is not env.client and other.identity == "second"
        assert other.namespace == env.client.namespace
        handle = await other.start_workflow(Deadline.run, id=f"dl-{uuid.uuid4()}", task_queue=TQ)
        assert await handle.result() == "expired"  # its result waits skip time too
    finally:
        await other.close()
    # A server of the caller's (`from_client`): the new client talks to the same server.
    remote = WorkflowEnvironment.from_client(env.client)
    third = await remote.connect_client()
    try:
        assert (await third.get_workflow_handle(handle.id).describe()).id == handle.id
    finally:
        await third.close()
    assert (await env.client.get_workflow_handle(handle.id).describe()).id == handle.id  # still works
