"""Timers read from the table instead of sent, embedded and on the real stack (scenarios in
scenarios_timer_messages.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_timer_messages as scenarios
from tests.support.stack import SERVICES, Stack, free_port

_RECEIVED = "tidal_timer_messages"


def _received(families: object) -> float:
    return sum(
        s.value
        for fam in families  # type: ignore[attr-defined]
        if fam.name == _RECEIVED
        for s in fam.samples
        if s.name.endswith("_total")
    )


async def _embedded() -> float:
    return _received(REGISTRY.collect())


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_local()
    yield e
    await e.shutdown()


@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_time_skipping()
    yield e
    await e.shutdown()


async def test_one_activity_workflow_sends_no_timer_message_embedded(env: WorkflowEnvironment) -> None:
    await scenarios.one_activity_workflow_sends_no_timer_message(env.client, "few-msg", _embedded)


async def test_ten_second_task_timeout_fires_without_a_message_embedded(
    skipping: WorkflowEnvironment,
) -> None:
    await scenarios.ten_second_task_timeout_fires_without_a_message(skipping.client, "few-lost", _embedded)


async def test_one_second_user_timer_fires_on_time_embedded(env: WorkflowEnvironment) -> None:
    await scenarios.one_second_user_timer_fires_on_time(env.client, "few-timer", _embedded)


@pytest.fixture
async def stack_client(stack: Stack) -> AsyncIterator[tuple[Client, int]]:
    metrics_port = free_port()
    for name in SERVICES:
        extra = {"TIDAL_METRICS_PORT": str(metrics_port)} if name == "timer" else {}
        stack.start(name, **extra)
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    yield client, metrics_port
    await client.close()


def _scraper(port: int) -> scenarios.Received:
    async def received() -> float:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
        return _received(text_string_to_metric_families(text))

    return received


async def test_one_activity_workflow_sends_no_timer_message_stack(stack_client: tuple[Client, int]) -> None:
    client, port = stack_client
    await scenarios.one_activity_workflow_sends_no_timer_message(client, "few-msg", _scraper(port))


async def test_ten_second_task_timeout_fires_without_a_message_stack(
    stack_client: tuple[Client, int],
) -> None:
    """Real time on the stack: the run waits out its 10 s task timeout (its result() is the
    deadline-bounded wait)."""
    client, port = stack_client
    await scenarios.ten_second_task_timeout_fires_without_a_message(client, "few-lost", _scraper(port))


async def test_one_second_user_timer_fires_on_time_stack(stack_client: tuple[Client, int]) -> None:
    client, port = stack_client
    await scenarios.one_second_user_timer_fires_on_time(client, "few-timer", _scraper(port))
