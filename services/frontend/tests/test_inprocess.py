"""The in-process adapter (inprocess.py) answers exactly what the HTTP routes answer: the same
status and document for good and bad requests alike, and the same request metrics. Every case
sends one request both ways to one embedded server (SQLite, the in-memory bus: the only place
a client shares the frontend's process) and compares."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from prometheus_client import REGISTRY
from tidal_frontend.inprocess import RESULT_ROUTE, START_ROUTE
from tidal_schema.limits import MAX_DOCUMENT_DEPTH
from tidal_server.embedded import EmbeddedServer

BASE = "/api/v1/namespaces/default/workflows"
KEY = "k" * 40  # the bootstrap key of the server with auth on
DEEP: Any = []
for _ in range(MAX_DOCUMENT_DEPTH + 1):
    DEEP = [DEEP]


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[EmbeddedServer]:
    srv = EmbeddedServer(settings={"frontend": {"max_body_bytes": 4096}})
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def both(
    srv: EmbeddedServer,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    """(in-process answer, HTTP answer) of the same request."""
    raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    direct = await srv.inprocess_calls(method, path, dict(query or {}), dict(headers or {}), raw)
    async with httpx.AsyncClient(
        # The FastAPI app alone: asgi_app's fast path answers these two routes through the adapter.
        transport=httpx.ASGITransport(app=srv.services["frontend"].fastapi_app),
        base_url="http://tidal.test",
    ) as http:
        r = await http.request(
            method,
            path,
            params=dict(query or {}),
            headers={**(headers or {}), "content-type": "application/json"},
            content=raw,
        )
    return direct, (r.status_code, r.json())


async def served(srv: EmbeddedServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The in-process answer, which must equal the HTTP answer."""
    direct, http = await both(srv, method, path, **kwargs)
    assert direct is not None, "the adapter declined a call it serves"
    assert direct == http
    return direct


def start_body(**extra: Any) -> dict[str, Any]:
    return {"workflow_id": f"w-{uuid.uuid4().hex[:8]}", "workflow_type": "T", "task_queue": "q", **extra}


@pytest.mark.parametrize(
    "body",
    [
        {"workflow_type": "T", "task_queue": "q"},  # workflow_id missing
        {**start_body(), "no_such_option": 1},
        {**start_body(), "workflow_run_timeout": -1},
        {**start_body(), "workflow_id": "a\x00b"},
        {**start_body(), "cron_schedule": "not a cron"},
        {**start_body(), "search_attributes": {"Bad": {"nested": [1]}}},
    ],
    ids=["missing", "unknown-field", "negative", "nul", "cron", "attributes"],
)
async def test_a_bad_start_gets_the_routes_problem(server: EmbeddedServer, body: Any) -> None:
    status, _ = await served(server, "POST", BASE, body=body)
    assert status == 400


@pytest.mark.parametrize(
    "body",
    [{**start_body(), "args": ["x" * 5000]}, {**start_body(), "args": DEEP}, [1, 2], b"{not json", b"\xff"],
    ids=["too-large", "deep", "not-object", "not-json", "not-utf8"],
)
async def test_what_the_asgi_stack_refuses_is_left_to_it(server: EmbeddedServer, body: Any) -> None:
    direct, http = await both(server, "POST", BASE, body=body)
    assert direct is None and http[0] in (400, 413), http


async def test_an_unknown_namespace_gets_the_routes_problem(server: EmbeddedServer) -> None:
    status, _ = await served(server, "POST", "/api/v1/namespaces/nowhere/workflows", body=start_body())
    assert status == 404
    status, _ = await served(server, "GET", "/api/v1/namespaces/nowhere/workflows/w/result")
    assert status == 404


async def test_a_start_and_its_repeat_answer_as_the_route(server: EmbeddedServer) -> None:
    body = start_body(request_id=f"r-{uuid.uuid4().hex}")
    # The same request id: the HTTP call is the duplicate and gets the same run.
    status, first = await served(server, "POST", BASE, body=body)
    assert status == 201 and first["request_id"] == body["request_id"]
    other = {**body, "request_id": f"r-{uuid.uuid4().hex}", "id_conflict_policy": "UseExisting"}
    direct, http = await both(server, "POST", BASE, body=other)
    assert direct is not None and direct[0] == http[0] == 200
    assert direct[1]["run_id"] == http[1]["run_id"] == first["run_id"]


@pytest.mark.parametrize(
    "query",
    [{"wait": "-1"}, {"wait": "soon"}, {"run_id": "%00"}, {"run_id": "r" * 300}, {"run_id": ""}],
    ids=["negative-wait", "bad-wait", "percent-00", "long-run", "empty-run"],
)
async def test_a_bad_result_query_gets_the_routes_problem(
    server: EmbeddedServer, query: dict[str, str]
) -> None:
    status, _ = await served(server, "GET", f"{BASE}/some-id/result", query=query)
    assert status in (400, 404)


async def test_nul_in_the_target_is_left_to_the_asgi_stack(server: EmbeddedServer) -> None:
    for path, query in ((f"{BASE}/a%00b/result", {}), (f"{BASE}/w/result", {"run_id": "a\x00"})):
        direct, http = await both(server, "GET", path, query=query)
        assert direct is None and http[0] == 400, path


async def test_result_answers_as_the_route(server: EmbeddedServer) -> None:
    for path in (f"{BASE}/nobody/result", f"{BASE}/{quote('a/b?c', safe='')}/result"):
        status, _ = await served(server, "GET", path)
        assert status == 404, path
    body = start_body()
    started = await server.inprocess_calls("POST", BASE, {}, {}, json.dumps(body).encode())
    assert started is not None and started[0] == 201
    path = f"{BASE}/{body['workflow_id']}/result"
    status, answer = await served(server, "GET", path, query={"run_id": started[1]["run_id"], "wait": "0"})
    assert status == 200 and answer["status"] == "Running"
    status, answer = await served(server, "GET", path, query={"wait": "0.01"})
    assert status == 200 and answer["run_id"] == started[1]["run_id"]


async def test_calls_it_does_not_serve_are_declined(server: EmbeddedServer) -> None:
    calls = server.inprocess_calls
    assert await calls("GET", f"{BASE}/w", {}, {}, None) is None  # describe
    assert await calls("GET", f"{BASE}/w/result", {"page": "1"}, {}, None) is None  # unknown parameter
    assert await calls("POST", BASE, {}, {}, None) is None  # no body: the route says what it says
    assert await calls("POST", f"{BASE}/w/signal", {}, {}, b"{}") is None


async def test_requests_count_in_the_routes_metrics(server: EmbeddedServer) -> None:
    """Both transports count under one series: the route template HTTP's middleware uses."""

    def count(method: str, route: str, code: str) -> float:
        labels = {"method": method, "route": route, "code": code}
        return REGISTRY.get_sample_value("tidal_frontend_requests_total", labels) or 0.0

    for method, route, path, body in (
        ("GET", RESULT_ROUTE, f"{BASE}/nobody/result", None),
        ("POST", START_ROUTE, BASE, {"workflow_type": "T"}),
    ):
        code = "404" if method == "GET" else "400"
        before = count(method, route, code)
        direct, _ = await both(server, method, path, body=body)
        assert direct is not None
        assert count(method, route, code) == before + 2, route


async def test_keys_are_checked_as_over_http() -> None:
    srv = EmbeddedServer(settings={"frontend": {"auth_enabled": True, "auth_bootstrap_key": KEY}})
    await srv.start()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic " + KEY}):
            status, _ = await served(srv, "POST", BASE, headers=headers, body=start_body())
            assert status == 401, headers
            status, _ = await served(srv, "GET", f"{BASE}/w/result", headers=headers)
            assert status == 401, headers
        status, _ = await served(srv, "GET", f"{BASE}/w/result", headers={"authorization": f"bearer {KEY}"})
        assert status == 404
    finally:
        await srv.stop()
