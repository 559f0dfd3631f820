"""Workflows and activities the end-to-end tests, the benchmark and the dev sample share."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.common import RetryPolicy
from tidal.exceptions import ApplicationError

TASK_QUEUE = "e2e"

# Attempts seen per key, so a test can check how often an activity really ran.
ATTEMPTS: dict[str, int] = {}


@activity.defn
async def greet(name: str) -> str:
    ATTEMPTS[f"greet:{activity.info().workflow_id}"] = (
        ATTEMPTS.get(f"greet:{activity.info().workflow_id}", 0) + 1
    )
    return f"Hello, {name}!"


@activity.defn
async def flaky(key: str) -> str:
    """Fails on the first two attempts, then succeeds."""
    info = activity.info()
    ATTEMPTS[key] = info.attempt
    if info.attempt < 3:
        raise ApplicationError(f"attempt {info.attempt} failed on purpose", type="Flaky")
    return f"succeeded on attempt {info.attempt}"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        start = workflow.now()
        await workflow.sleep(seconds)
        await asyncio.sleep(0.01)  # asyncio.sleep is a durable timer too
        return (workflow.now() - start).total_seconds()


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            flaky,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
        )


@workflow.defn
class CancellableWorkflow:
    """Waits a day; on cancellation it runs a cleanup activity, then reports itself cancelled."""

    @workflow.run
    async def run(self, name: str) -> str:
        try:
            await workflow.sleep(86_400)
        except asyncio.CancelledError:
            await workflow.execute_activity(
                greet, f"cleanup for {name}", start_to_close_timeout=timedelta(seconds=30)
            )
            raise
        return "never cancelled"


ALL_WORKFLOWS = [GreetingWorkflow, TimerWorkflow, RetryWorkflow, CancellableWorkflow]
ALL_ACTIVITIES = [greet, flaky]
