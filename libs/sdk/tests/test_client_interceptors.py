"""The client interceptor chain (temporalio's shape): order, input changes reaching the HTTP
call (headers, rpc_metadata), and refusals made before anything is sent. The server side of
headers is in tests/e2e/test_client_parity.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tidal.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowHandle,
)
from tidal_schema import Payload


class _Recorder(Interceptor):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Out(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
                recorder.seen.append(recorder.name)
                input.headers = {**input.headers, recorder.name: Payload(data=recorder.name)}
                input.rpc_metadata = {**input.rpc_metadata, f"x-{recorder.name}": b"yes"}
                return await super().start_workflow(input)

            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                recorder.seen.append(f"{recorder.name}:signal")
                await super().signal_workflow(input)

        return Out(next)


def _client(requests: list[httpx.Request], interceptors: list[Interceptor]) -> Client:
    def app(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(201, json={"run_id": "r1", "workflow_id": "w", "started": True})

    http = httpx.AsyncClient(transport=httpx.MockTransport(app), base_url="http://t")
    return Client(http=http, interceptors=interceptors)


async def test_the_first_interceptor_is_outermost_and_its_changes_reach_the_call() -> None:
    seen: list[str] = []
    requests: list[httpx.Request] = []
    client = _client(requests, [_Recorder("outer", seen), _Recorder("inner", seen)])
    handle = await client.start_workflow("Wf", id="w", task_queue="q")
    assert seen == ["outer", "inner"]
    body = json.loads(requests[0].content)
    assert body["header"] == {
        "outer": {"metadata": {"encoding": "json/plain"}, "data": "outer"},
        "inner": {"metadata": {"encoding": "json/plain"}, "data": "inner"},
    }
    assert requests[0].headers["x-outer"] == "yes" and requests[0].headers["x-inner"] == "yes"
    await handle.signal("go")
    assert seen[2:] == ["outer:signal", "inner:signal"]
    assert "header" not in json.loads(requests[1].content)  # nothing added: nothing sent


async def test_a_client_built_from_config_keeps_the_connection_and_adds_interceptors() -> None:
    seen: list[str] = []
    requests: list[httpx.Request] = []
    plain = _client(requests, [])
    wrapped = Client(**{**plain.config(), "interceptors": [_Recorder("only", seen)]})
    await plain.start_workflow("Wf", id="w", task_queue="q")
    await wrapped.start_workflow("Wf", id="w", task_queue="q")
    assert seen == ["only"] and len(requests) == 2
    assert "header" not in json.loads(requests[0].content)


async def test_cron_schedule_set_by_an_interceptor_is_sent() -> None:
    class Cron(Interceptor):
        def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
            class Out(OutboundInterceptor):
                async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
                    input.cron_schedule = "* * * * *"
                    return await super().start_workflow(input)

            return Out(next)

    requests: list[httpx.Request] = []
    client = _client(requests, [Cron()])
    await client.start_workflow("Wf", id="w", task_queue="q")
    assert json.loads(requests[0].content)["cron_schedule"] == "* * * * *"


async def test_async_activity_calls_go_through_the_chain() -> None:
    from tidal.client import (
        CompleteAsyncActivityInput,
        HeartbeatAsyncActivityInput,
    )
    from tidal_schema.task_token import ActivityTaskToken

    seen: list[str] = []

    class Counting(Interceptor):
        def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
            class Out(OutboundInterceptor):
                async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
                    seen.append("heartbeat")
                    input.details = [*input.details, "added"]
                    await super().heartbeat_async_activity(input)

                async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
                    seen.append("complete")
                    await super().complete_async_activity(input)

            return Out(next)

    requests: list[httpx.Request] = []
    client = _client(requests, [Counting()])
    token = ActivityTaskToken(namespace="ns", workflow_id="w", run_id="r", scheduled_event_id=5, attempt=1)
    handle = client.get_async_activity_handle(task_token=token.encode())
    await handle.heartbeat("d")
    await handle.complete("done")
    assert seen == ["heartbeat", "complete"]
    assert [r.url.path for r in requests] == [
        "/api/v1/namespaces/ns/activities/heartbeat",
        "/api/v1/namespaces/ns/activities/complete",
    ]
    assert [p["data"] for p in json.loads(requests[0].content)["input"]] == ["d", "added"]


async def test_request_eager_start_reaches_interceptors_as_a_hint() -> None:
    """temporalio's `request_eager_start` (and `stack_level`) are accepted; the hint is what
    interceptors see, and the start goes out as any other (Tidal has no eager workflow start)."""
    hints: list[bool] = []

    class Eager(Interceptor):
        def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
            class Out(OutboundInterceptor):
                async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
                    hints.append(input.request_eager_start)
                    return await super().start_workflow(input)

            return Out(next)

    requests: list[httpx.Request] = []
    client = _client(requests, [Eager()])
    handle = await client.start_workflow(
        "Wf", id="w", task_queue="q", request_eager_start=True, stack_level=3
    )
    await client.start_workflow("Wf", id="w", task_queue="q")
    assert hints == [True, False] and handle.run_id == "r1" and len(requests) == 2


async def test_already_started_carries_the_first_run_id_of_the_409_body() -> None:
    from tidal.exceptions import WorkflowAlreadyStartedError

    def app(request: httpx.Request) -> httpx.Response:
        body = {"code": "already_started", "detail": "running", "run_id": "r2", "first_run_id": "r1"}
        return httpx.Response(409, json=body)

    client = Client(http=httpx.AsyncClient(transport=httpx.MockTransport(app), base_url="http://t"))
    with pytest.raises(WorkflowAlreadyStartedError) as caught:
        await client.start_workflow("Wf", id="w", task_queue="q")
    assert (caught.value.run_id, caught.value.first_run_id) == ("r2", "r1")
