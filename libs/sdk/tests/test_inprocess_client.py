"""`WorkflowEnvironment.start_local()`'s client starts workflows and waits for results through the
frontend's in-process adapter (no HTTP request, no ASGI app), gets the same errors as over HTTP,
and sends every other call through the app as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from tidal import activity, workflow
from tidal._inprocess_transport import InProcessTransport
from tidal.client import RPCTimeoutOrCancelledError
from tidal.exceptions import RPCError, WorkflowAlreadyStartedError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Shout:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


class CountingApp:
    """The server's ASGI app, counting the HTTP requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@pytest.fixture
async def env() -> AsyncIterator[tuple[WorkflowEnvironment, CountingApp]]:
    env = await WorkflowEnvironment.start_local()
    try:
        transport = env.client._http._transport
        assert isinstance(transport, InProcessTransport)
        counting = CountingApp(transport.app)
        transport.app = counting
        yield env, counting
    finally:
        await env.shutdown()


async def test_start_and_result_skip_http_and_the_rest_goes_through_the_app(
    env: tuple[WorkflowEnvironment, CountingApp],
) -> None:
    environment, app = env
    client = environment.client
    workflow_id = f"shout-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue="inprocess", workflows=[Shout], activities=[shout]):
        handle = await client.start_workflow(Shout.run, "hi", id=workflow_id, task_queue="inprocess")
        assert await handle.result() == "HI"
        assert app.paths == []
        description = await handle.describe()
    assert description.id == workflow_id
    assert app.paths == [f"GET /api/v1/namespaces/default/workflows/{workflow_id}"]


async def test_errors_are_the_same_as_over_http(env: tuple[WorkflowEnvironment, CountingApp]) -> None:
    environment, app = env
    client = environment.client
    workflow_id = f"twice-{uuid.uuid4().hex[:8]}"
    first = await client.start_workflow(Shout.run, "x", id=workflow_id, task_queue="nobody-polls")
    with pytest.raises(WorkflowAlreadyStartedError) as started:
        await client.start_workflow(Shout.run, "x", id=workflow_id, task_queue="nobody-polls")
    assert started.value.run_id == first.run_id
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(f"nobody-{uuid.uuid4().hex[:8]}").result()
    assert missing.value.status == "not_found" and missing.value.code == 404
    assert app.paths == []


async def test_a_call_over_its_timeout_raises_as_over_the_network(
    env: tuple[WorkflowEnvironment, CountingApp],
) -> None:
    """httpx's ASGI transport never times out; an in-process call keeps the call's timeout (the
    client's 90 s unless the call gives one), as a network call would:
    RPCTimeoutOrCancelledError. The start may still happen; a retry with the same request id
    gets its run."""
    environment, _ = env
    client = environment.client
    transport = client._http._transport
    assert isinstance(transport, InProcessTransport)
    body = {"workflow_id": f"slow-{uuid.uuid4().hex[:8]}", "workflow_type": "Shout", "task_queue": "none"}
    body["request_id"] = f"req-{uuid.uuid4().hex}"
    path = "/api/v1/namespaces/default/workflows"
    # A first start fills the frontend's namespace cache: the timed call below then waits only
    # for history's reply.
    await client.start_workflow(Shout.run, "x", id=f"warm-{uuid.uuid4().hex[:8]}", task_queue="none")
    with pytest.raises(RPCTimeoutOrCancelledError):
        await transport.call(client._http, "POST", path, {"json": body, "timeout": 1e-6})
    answer = await transport.call(client._http, "POST", path, {"json": body})
    assert answer is not None and answer[0] == 201 and answer[1]["request_id"] == body["request_id"]
