"""The scenarios on the embedded server (in-memory bus + SQLite, one process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    async with Worker(env.client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        yield env
    await env.shutdown()


async def test_one_activity_workflow(env: WorkflowEnvironment) -> None:
    await scenarios.one_activity(env.client, TASK_QUEUE)


async def test_one_second_timer(env: WorkflowEnvironment) -> None:
    await scenarios.one_second_timer(env.client, TASK_QUEUE)


async def test_activity_fails_twice_then_succeeds(env: WorkflowEnvironment) -> None:
    await scenarios.retry_then_succeed(env.client, TASK_QUEUE)


async def test_sticky_worker_gone_falls_back_to_the_shared_queue() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        await scenarios.sticky_fallback(env.client, "sticky-fallback")
    finally:
        await env.shutdown()


async def test_cancel_runs_cleanup_and_ends_canceled(env: WorkflowEnvironment) -> None:
    await scenarios.cancel_with_cleanup(env.client, TASK_QUEUE)
