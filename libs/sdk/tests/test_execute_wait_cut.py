"""`execute_workflow`'s start waits for the result on the same request (`wait_for_result`), so a
connection cut during that wait (a frontend restarting, a proxy's idle timeout) comes long after
the start was committed. Before, the cut raised `RPCError` ("internal") out of `execute_workflow`
for a workflow that had started and was running: a caller retrying it with a new request id would
start a second run once the first had closed. Now the start is sent again without the wait, with
the same request id (history answers the run it started), and the result is polled. Against an
`httpx.MockTransport` standing in for the frontend (durable, session 13)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tidal import workflow
from tidal.client import Client
from tidal.exceptions import RPCError

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


@pytest.mark.parametrize(
    "cut",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["disconnected", "reset", "read-timeout"],
)
async def test_a_cut_during_the_wait_falls_back_to_the_plain_start_and_a_poll(cut: Exception) -> None:
    sent: list[tuple[str, Any]] = []
    runs: dict[str, str] = {}  # request id -> run id: history's dedup

    def app(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            sent.append(("GET", request.url.params.get("run_id")))
            return httpx.Response(200, json=_RESULT)
        body = json.loads(request.content)
        sent.append(("POST", body))
        created = body["request_id"] not in runs
        run_id = runs.setdefault(body["request_id"], f"r{len(runs) + 1}")
        if "wait_for_result" in body:
            raise cut  # the start committed; the wait is cut
        started = {"workflow_id": "w", "run_id": run_id, "started": created, "request_id": body["request_id"]}
        return httpx.Response(201 if created else 200, json=started)

    assert await _client(app).execute_workflow(_Wf.run, id="w", task_queue="tq") == "done"
    assert [m for m, _ in sent] == ["POST", "POST", "GET"]
    first, second = sent[0][1], sent[1][1]
    assert {k: v for k, v in first.items() if k != "wait_for_result"} == second  # the same start
    assert len(runs) == 1 and sent[2][1] == "r1"  # one run, and its result polled


async def test_a_refused_connection_is_not_sent_again_without_the_wait() -> None:
    """Nothing was sent: the client's own retries of `unavailable` apply, not this fallback."""
    sent: list[dict[str, Any]] = []

    def app(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        raise httpx.ConnectError("connection refused")

    client = _client(app)
    client.rpc_retry_seconds = 0.0
    with pytest.raises(RPCError) as raised:
        await client.execute_workflow(_Wf.run, id="w", task_queue="tq")
    assert raised.value.status == "unavailable"
    assert all("wait_for_result" in b for b in sent)
