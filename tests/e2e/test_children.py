"""Child workflows, continue-as-new and external handles, embedded and on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.e2e import scenarios_children as sc
from tests.support.stack import Stack

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sc.child_result_and_failure,
    sc.child_signal_and_cancel,
    sc.parent_close_policies,
    sc.continue_as_new_chain,
    sc.external_handles,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.CHILD_WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, sc.TASK_QUEUE)


@pytest.fixture
async def stack_client(fresh_vhost_amqp_url: str, fresh_database_url: str) -> AsyncIterator[Client]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=fresh_database_url)
    s.migrate()
    try:
        for name in ("history", "matching", "timer", "frontend"):
            s.start(name)
        await s.wait_ready()
        client = await Client.connect(s.address)
        try:
            async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.CHILD_WORKFLOWS):
                yield client
        finally:
            await client.close()
    finally:
        s.stop_all()


async def test_stack(stack_client: Client) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids): starting a stack per
    scenario would cost more than the scenarios themselves."""
    results = await asyncio.gather(
        *(s(stack_client, sc.TASK_QUEUE) for s in SCENARIOS), return_exceptions=True
    )
    failed = {name: r for name, r in zip(IDS, results, strict=True) if isinstance(r, BaseException)}
    for r in failed.values():
        raise r
