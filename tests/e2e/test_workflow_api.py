"""temporalio's `workflow.*` handler API, `@workflow.init` and dynamic workflows on a real
worker (issue 11), embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_workflow_api as sw
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sw.handlers_set_at_run_time,
    sw.update_handler_set_by_run_gets_the_starting_update,
    sw.dynamic_workflow,
    sw.activity_forms_and_summaries,
    sw.child_start_options,
    sw.continue_as_new_options,
    sw.root_info,
    sw.external_cancel_with_reason,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client, task_queue=sw.TASK_QUEUE, workflows=sw.WORKFLOWS, activities=sw.ACTIVITIES
        ):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, sw.TASK_QUEUE)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids)."""
    client = await Client.connect(running.address)
    try:
        async with Worker(client, task_queue=sw.TASK_QUEUE, workflows=sw.WORKFLOWS, activities=sw.ACTIVITIES):
            results = await asyncio.gather(
                *(s(client, sw.TASK_QUEUE) for s in SCENARIOS), return_exceptions=True
            )
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
