"""Start, signal and terminate through the HTTP API, answered by a fake history on a real broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
from tidal_schema import names, shard_for
from tidal_schema.messages import SignalWorkflowExecution, StartWorkflowExecution, TerminateWorkflowExecution

from .conftest import SHARDS, FakeHistory

BASE = "/api/v1/namespaces/default/workflows"


def wid() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def _sent(fake: FakeHistory, workflow_id: str) -> list[tuple[str, object]]:
    return [(rk, m) for rk, m in fake.received if getattr(m, "workflow_id", None) == workflow_id]


async def test_start_routes_to_the_shard_and_answers_201(
    client: httpx.AsyncClient, fake_history: FakeHistory
) -> None:
    w = wid()
    r = await client.post(
        BASE,
        json={
            "workflow_id": w,
            "workflow_type": "Greet",
            "task_queue": "tq",
            "args": ["Ada", {"n": 1}],
            "workflow_run_timeout": 30.5,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["workflow_id"] == w and body["started"] is True and body["run_id"]
    assert body["request_id"]  # generated when the client gave none
    [(routing_key, msg)] = _sent(fake_history, w)
    assert routing_key == names.shard_routing_key(shard_for("default", w, SHARDS))
    assert isinstance(msg, StartWorkflowExecution)
    assert [p.data for p in msg.input] == ["Ada", {"n": 1}]
    assert msg.input[0].metadata == {"encoding": "json/plain"}
    assert msg.request_id == body["request_id"]
    assert msg.workflow_run_timeout is not None and msg.workflow_run_timeout.total_seconds() == 30.5


async def test_start_with_payloads_and_same_request_id_is_idempotent(client: httpx.AsyncClient) -> None:
    w = wid()
    payload = {"metadata": {"encoding": "json/plain"}, "data": [1, 2]}
    req = {
        "workflow_id": w,
        "workflow_type": "Greet",
        "task_queue": "tq",
        "input": [payload],
        "request_id": "req-1",
    }
    first = await client.post(BASE, json=req)
    again = await client.post(BASE, json=req)
    assert first.status_code == again.status_code == 201
    assert first.json()["run_id"] == again.json()["run_id"]


async def test_duplicate_start_is_409_with_the_running_run(client: httpx.AsyncClient) -> None:
    w = wid()
    req = {"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq"}
    first = await client.post(BASE, json=req)
    dup = await client.post(BASE, json=req)
    assert dup.status_code == 409
    assert dup.headers["content-type"].startswith("application/problem+json")
    problem = dup.json()
    assert problem["code"] == "already_started" and problem["status"] == 409
    assert problem["run_id"] == first.json()["run_id"]
    assert problem["type"] and problem["title"] and problem["detail"]


async def test_invalid_body_is_400_with_field_errors(client: httpx.AsyncClient) -> None:
    r = await client.post(BASE, json={"workflow_id": "x", "task_queue": "tq", "workflow_run_timeout": -1})
    assert r.status_code == 400
    problem = r.json()
    assert problem["code"] == "invalid_argument"
    fields = {e["loc"][-1] for e in problem["errors"]}
    assert {"workflow_type", "workflow_run_timeout"} <= fields

    both = await client.post(
        BASE, json={"workflow_id": "x", "workflow_type": "G", "task_queue": "tq", "args": [1], "input": []}
    )
    assert both.status_code == 400 and "either input" in both.text

    unknown = await client.post(
        BASE, json={"workflow_id": "x", "workflow_type": "G", "task_queue": "tq", "task_qeue": "typo"}
    )
    assert unknown.status_code == 400

    not_json = await client.post(BASE, content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_argument"


async def test_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    limit = 64 * 1024  # the fixture's max_body_bytes
    big = {"workflow_id": wid(), "workflow_type": "G", "task_queue": "tq", "args": ["x" * limit]}
    r = await client.post(BASE, json=big)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the limit applies to what is streamed
        for _ in range(5):
            yield b"x" * 20_000

    streamed = await client.post(BASE, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


async def test_history_not_answering_is_503_with_retry_hint(
    client: httpx.AsyncClient, fake_history: FakeHistory
) -> None:
    w = wid()
    fake_history.silent.add(w)
    r = await client.post(
        BASE, json={"workflow_id": w, "workflow_type": "G", "task_queue": "tq", "request_id": "keep-me"}
    )
    assert r.status_code == 503
    problem = r.json()
    assert problem["code"] == "unavailable"
    assert "retry with the same request_id (keep-me)" in problem["detail"]


async def test_signal_and_terminate(client: httpx.AsyncClient, fake_history: FakeHistory) -> None:
    w = wid()
    req = {"workflow_id": w, "workflow_type": "G", "task_queue": "tq"}
    started = (await client.post(BASE, json=req)).json()
    sig = await client.post(f"{BASE}/{w}/signal", json={"signal_name": "approve", "args": [True]})
    assert sig.status_code == 202, sig.text
    assert sig.json() == {"workflow_id": w, "run_id": started["run_id"]}
    signals = [m for _, m in _sent(fake_history, w) if isinstance(m, SignalWorkflowExecution)]
    assert signals[0].signal_name == "approve" and signals[0].input[0].data is True and signals[0].request_id

    term = await client.post(f"{BASE}/{w}/terminate", json={"reason": "enough"})
    assert term.status_code == 202 and term.json()["run_id"] == started["run_id"]
    [terminate] = [m for _, m in _sent(fake_history, w) if isinstance(m, TerminateWorkflowExecution)]
    assert terminate.reason == "enough"

    # Now gone: history answers not_found, the API 404.
    again = await client.post(f"{BASE}/{w}/terminate")
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    late = await client.post(f"{BASE}/{w}/signal", json={"signal_name": "approve"})
    assert late.status_code == 404


async def test_workflow_ids_with_slashes(client: httpx.AsyncClient) -> None:
    w = f"orders/{uuid.uuid4().hex[:6]}/1"
    req = {"workflow_id": w, "workflow_type": "G", "task_queue": "tq"}
    assert (await client.post(BASE, json=req)).status_code == 201
    sig = await client.post(f"{BASE}/{w}/signal", json={"signal_name": "s"})
    assert sig.status_code == 202 and sig.json()["workflow_id"] == w
