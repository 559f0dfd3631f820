"""`Client.execute_workflow` as one request (`wait_for_result` on the start), against an
in-process `httpx.MockTransport` standing in for the frontend: what the client sends, what it does
with the start's `result`, and with a frontend older than the field (a 400 before anything
starts: the plain start is sent again, and the result polled)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tidal import workflow
from tidal.client import Client

_RESULT = {
    "workflow_id": "w",
    "run_id": "r1",
    "status": "Completed",
    "result": [{"metadata": {"encoding": "json/plain"}, "data": "done"}],
}


@workflow.defn
class _Wf:
    @workflow.run
    async def run(self) -> str:
        return "unused"


def _client(app: Any) -> Client:
    return Client(http=httpx.AsyncClient(transport=httpx.MockTransport(app), base_url="http://t"))


async def test_execute_workflow_sends_one_request_and_takes_the_result_from_it() -> None:
    sent: list[tuple[str, Any]] = []

    def app(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, json.loads(request.content) if request.content else str(request.url)))
        started = {"workflow_id": "w", "run_id": "r1", "started": True, "request_id": "q"}
        return httpx.Response(201, json={**started, "result": _RESULT})

    client = _client(app)
    assert await client.execute_workflow(_Wf.run, id="w", task_queue="tq") == "done"
    assert [m for m, _ in sent] == ["POST"]
    assert sent[0][1]["wait_for_result"] == 30.0
    # start_workflow is unchanged: no wait asked for.
    sent.clear()
    await client.start_workflow(_Wf.run, id="w", task_queue="tq")
    assert "wait_for_result" not in sent[0][1]


async def test_a_start_answered_while_the_run_still_runs_is_followed_by_polls() -> None:
    sent: list[str] = []

    def app(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        if request.method == "POST":
            running = {"workflow_id": "w", "run_id": "r1", "status": "Running"}
            return httpx.Response(
                201,
                json={
                    "workflow_id": "w",
                    "run_id": "r1",
                    "started": True,
                    "request_id": "q",
                    "result": running,
                },
            )
        assert request.url.params["run_id"] == "r1"
        return httpx.Response(200, json=_RESULT)

    assert await _client(app).execute_workflow(_Wf.run, id="w", task_queue="tq") == "done"
    assert sent == ["POST", "GET"]


async def test_a_frontend_without_wait_for_result_gets_the_plain_start() -> None:
    sent: list[tuple[str, Any]] = []

    def app(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            sent.append(("GET", None))
            return httpx.Response(200, json=_RESULT)
        body = json.loads(request.content)
        sent.append(("POST", body))
        if "wait_for_result" in body:  # what an older frontend answers (extra fields are refused)
            problem = {
                "type": "urn:tidal:problem:invalid_argument",
                "title": "Invalid argument",
                "status": 400,
                "detail": "invalid request: body.wait_for_result",
                "code": "invalid_argument",
            }
            return httpx.Response(400, json=problem, headers={"content-type": "application/problem+json"})
        return httpx.Response(
            201, json={"workflow_id": "w", "run_id": "r1", "started": True, "request_id": "q"}
        )

    assert await _client(app).execute_workflow(_Wf.run, id="w", task_queue="tq") == "done"
    assert [m for m, _ in sent] == ["POST", "POST", "GET"]
    first, second = sent[0][1], sent[1][1]
    assert "wait_for_result" in first and "wait_for_result" not in second
    assert {k: v for k, v in first.items() if k != "wait_for_result"} == second  # the same start
