"""Fewer hops, embedded and on the real stack (scenarios in scenarios_hops.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_hops
from tests.support.stack import SERVICES, Stack, free_port

_DISPATCHED = "tidal_matching_tasks_dispatched"


def _by_kind(families: object) -> dict[str, float]:
    out: dict[str, float] = {}
    for fam in families:  # type: ignore[attr-defined]
        if fam.name != _DISPATCHED:
            continue
        for s in fam.samples:
            if s.name.endswith("_total"):
                out[s.labels["kind"]] = out.get(s.labels["kind"], 0.0) + s.value
    return out


@pytest.fixture
async def env(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WorkflowEnvironment]:
    monkeypatch.setenv("TIDAL_SHARED_QUEUE_REFRESH_SECONDS", scenarios_hops.REFRESH_SECONDS)
    e = await WorkflowEnvironment.start_local()
    yield e
    await e.shutdown()


async def test_eager_activity_embedded(env: WorkflowEnvironment) -> None:
    async def dispatched() -> dict[str, float]:
        return _by_kind(REGISTRY.collect())

    await scenarios_hops.eager_activity(env.client, "hops-eager", dispatched)


async def test_eager_start_embedded(env: WorkflowEnvironment) -> None:
    async def dispatched() -> dict[str, float]:
        return _by_kind(REGISTRY.collect())

    await scenarios_hops.eager_start(env.client, "hops-eager-start", dispatched)


async def test_eager_start_falls_back_embedded(env: WorkflowEnvironment) -> None:
    async def dispatched() -> dict[str, float]:
        return _by_kind(REGISTRY.collect())

    await scenarios_hops.eager_start_falls_back(env.client, "hops-eager-fallback", dispatched)


async def test_first_tasks_skip_matching_embedded(env: WorkflowEnvironment) -> None:
    async def dispatched() -> dict[str, float]:
        return _by_kind(REGISTRY.collect())

    await scenarios_hops.first_tasks_skip_matching(env.client, "hops-direct", dispatched)


async def test_eager_start_task_never_run_embedded(env: WorkflowEnvironment) -> None:
    await scenarios_hops.eager_task_never_run(env.client, "hops-eager-lost")


async def test_eager_attempt_never_reported_is_retried_embedded(env: WorkflowEnvironment) -> None:
    await scenarios_hops.eager_attempt_never_reported(env.client, "hops-stuck")


@pytest.fixture
async def stack_client(stack: Stack) -> AsyncIterator[tuple[Client, int]]:
    metrics_port = free_port()
    for name in SERVICES:
        extra = {"TIDAL_METRICS_PORT": str(metrics_port)} if name == "matching" else {}
        if name == "history":
            extra["TIDAL_SHARED_QUEUE_REFRESH_SECONDS"] = scenarios_hops.REFRESH_SECONDS
        stack.start(name, **extra)
    await stack.wait_ready()
    client = await Client.connect(stack.address)
    yield client, metrics_port
    await client.close()


async def test_eager_activity_stack(stack_client: tuple[Client, int]) -> None:
    client, port = stack_client

    async def dispatched() -> dict[str, float]:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
        return _by_kind(text_string_to_metric_families(text))

    await scenarios_hops.eager_activity(client, "hops-eager", dispatched)


async def test_eager_start_stack(stack_client: tuple[Client, int]) -> None:
    client, port = stack_client

    async def dispatched() -> dict[str, float]:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
        return _by_kind(text_string_to_metric_families(text))

    await scenarios_hops.eager_start(client, "hops-eager-start", dispatched)


async def test_first_tasks_skip_matching_stack(stack_client: tuple[Client, int]) -> None:
    client, port = stack_client

    async def dispatched() -> dict[str, float]:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
        return _by_kind(text_string_to_metric_families(text))

    await scenarios_hops.first_tasks_skip_matching(client, "hops-direct", dispatched)


async def test_eager_attempt_never_reported_is_retried_stack(stack_client: tuple[Client, int]) -> None:
    await scenarios_hops.eager_attempt_never_reported(stack_client[0], "hops-stuck")


async def test_result_over_the_notification_limit_embedded(env: WorkflowEnvironment) -> None:
    await scenarios_hops.result_over_the_notification_limit(env.client, "hops-big")


async def test_result_over_the_notification_limit_stack(stack_client: tuple[Client, int]) -> None:
    await scenarios_hops.result_over_the_notification_limit(stack_client[0], "hops-big")
