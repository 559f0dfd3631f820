"""Fewer hops, embedded and on the real stack (scenarios in scenarios_hops.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tidal import workflow
from tidal.client import Client
from tidal.exceptions import ApplicationError, WorkflowFailureError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_frontend.inprocess import RESULT_ROUTE, START_ROUTE
from tidal_frontend.metrics import REQUESTS

from tests.e2e import scenarios_hops
from tests.support.stack import SERVICES, Stack, free_port
from tests.support.workflows import GreetingWorkflow, greet

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


def _calls(method: str, route: str, code: str) -> float:
    return float(REQUESTS.labels(method, route, code)._value.get())


@workflow.defn
class _FailsWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("no", non_retryable=True)


async def test_execute_workflow_is_one_request_embedded(env: WorkflowEnvironment) -> None:
    """`execute_workflow`'s start waits for the result (`wait_for_result`): one request per
    workflow, no result poll, and a failed run raises as before; an eager start (answered at once)
    and `start_workflow` then `result()` poll as before."""
    queue = "hops-execute"
    async with Worker(
        env.client, task_queue=queue, workflows=[GreetingWorkflow, _FailsWorkflow], activities=[greet]
    ):
        starts, polls = _calls("POST", START_ROUTE, "201"), _calls("GET", RESULT_ROUTE, "200")
        for i in range(3):
            got = await env.client.execute_workflow(
                GreetingWorkflow.run, f"x{i}", id=f"execute-{uuid.uuid4()}", task_queue=queue
            )
            assert got == f"Hello, x{i}!"
        with pytest.raises(WorkflowFailureError) as failed:
            await env.client.execute_workflow(
                _FailsWorkflow.run, id=f"execute-{uuid.uuid4()}", task_queue=queue
            )
        assert str(failed.value.cause) == "no"
        assert (_calls("POST", START_ROUTE, "201") - starts, _calls("GET", RESULT_ROUTE, "200") - polls) == (
            4,
            0,
        )
        # An eager start is answered at once (its first task rides the reply): the client polls.
        got = await env.client.execute_workflow(
            GreetingWorkflow.run,
            "eager",
            id=f"execute-{uuid.uuid4()}",
            task_queue=queue,
            request_eager_start=True,
        )
        assert got == "Hello, eager!"
        # Started by `start_workflow`, the result is polled as before.
        handle = await env.client.start_workflow(
            GreetingWorkflow.run, "started", id=f"execute-{uuid.uuid4()}", task_queue=queue
        )
        assert await handle.result() == "Hello, started!"
        assert _calls("GET", RESULT_ROUTE, "200") - polls == 2
