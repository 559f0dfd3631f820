"""The HTTP fast path of the start and result routes (fast_path.py) answers byte for byte what the
FastAPI app answers: the same status, headers and body, for good and bad requests alike, and it
serves the calls it is for (a request it declines goes to the app, which is counted here).

Every case sends one request through the fast path and the same request to the FastAPI app alone,
on the real stack (the frontend on RabbitMQ and Postgres, history faked: conftest.py) and on the
embedded server, with auth off and on.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send
from tidal_frontend.app import FrontendService
from tidal_frontend.fast_path import FastPath
from tidal_frontend.settings import FrontendSettings
from tidal_schema import WorkflowExecutionStatus as S
from tidal_schema.limits import MAX_DOCUMENT_DEPTH
from tidal_server.bus import AmqpBus
from tidal_server.embedded import EmbeddedServer
from tidal_server.service import Runtime

from .conftest import SHARDS, FakeHistory, insert_run

BASE = "/api/v1/namespaces/default/workflows"
KEY = "k" * 40
MAX_BODY = 4096
DEEP: Any = []
for _ in range(MAX_DOCUMENT_DEPTH + 1):
    DEEP = [DEEP]


class Counting:
    """The FastAPI app, counting the requests the fast path left to it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


@dataclass
class Paths:
    fast: httpx.AsyncClient
    plain: httpx.AsyncClient
    fell_through: Counting
    insert: Callable[..., Coroutine[Any, Any, str]] | None = None
    """Writes a run as history would (stack only)."""

    async def compare(
        self, method: str, url: str, *, served: bool, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        """Sends the request both ways; asserts the same answer, and whether the fast path served."""
        before = self.fell_through.calls
        fast = await self.fast.request(method, url, headers=headers, **kw)
        assert (self.fell_through.calls == before) is served, (method, url, fast.status_code, fast.text)
        plain = await self.plain.request(method, url, headers=headers, **kw)
        assert (fast.status_code, fast.headers.multi_items(), fast.content) == (
            plain.status_code,
            plain.headers.multi_items(),
            plain.content,
        ), (method, url)
        return fast


@pytest.fixture(scope="module", params=["stack", "embedded"])
async def paths(
    request: pytest.FixtureRequest,
    module_amqp_url: str,
    module_database_url: str,
    engine: AsyncEngine,
    fake_history: FakeHistory,
) -> AsyncIterator[Paths]:
    if request.param == "stack":
        bus = AmqpBus(module_amqp_url, connection_name="fast-path-test")
        await bus.connect()
        settings = FrontendSettings(
            http_port=0,
            amqp_url=module_amqp_url,
            database_url=module_database_url,
            shard_count=SHARDS,
            request_timeout_seconds=2.0,
            max_body_bytes=MAX_BODY,
            commands_enabled=False,
        )
        runtime = Runtime(bus=bus, engine=engine, member_id=f"fp-{uuid.uuid4().hex[:8]}", shard_count=SHARDS)
        service = FrontendService(runtime, settings)
        await service.start()
        try:

            async def insert(**kw: Any) -> str:
                return await insert_run(engine, **kw)

            async with _paths(service, insert) as p:
                yield p
        finally:
            await service.stop()
            await bus.close()
    else:
        srv = EmbeddedServer(settings={"frontend": {"max_body_bytes": MAX_BODY}})
        await srv.start()
        try:
            async with _paths(srv.services["frontend"], None) as p:
                yield p
        finally:
            await srv.stop()


class _paths:
    def __init__(self, service: Any, insert: Any) -> None:
        counting = Counting(service.fastapi_app)
        fast = FastPath(app=counting, calls=service.inprocess_calls, max_body_bytes=MAX_BODY)
        self.paths = Paths(
            fast=httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://frontend"),
            plain=httpx.AsyncClient(
                transport=httpx.ASGITransport(app=service.fastapi_app), base_url="http://frontend"
            ),
            fell_through=counting,
            insert=insert,
        )

    async def __aenter__(self) -> Paths:
        return self.paths

    async def __aexit__(self, *exc: object) -> None:
        await self.paths.fast.aclose()
        await self.paths.plain.aclose()


def start_body(**extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": f"w-{uuid.uuid4().hex[:8]}",
        "workflow_type": "T",
        "task_queue": "q",
        "request_id": f"r-{uuid.uuid4().hex}",
        **extra,
    }


async def test_a_start_and_its_repeat(paths: Paths) -> None:
    # The same request id: the second (plain) call is the duplicate and gets the same answer.
    body = start_body(args=[{"metadata": {"encoding": "json/plain"}, "data": "héllo"}])
    r = await paths.compare("POST", BASE, json=body, served=True)
    assert r.status_code == 201 and r.json()["request_id"] == body["request_id"]
    # Another request id for a running id: already_started, a problem with the run's id.
    r = await paths.compare("POST", BASE, json={**body, "request_id": "other"}, served=True)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["run_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"workflow_type": "T", "task_queue": "q"},  # workflow_id missing
        {**start_body(), "no_such_option": 1},
        {**start_body(), "workflow_run_timeout": "soon"},
        {**start_body(), "workflow_run_timeout": -1},
        {**start_body(), "workflow_id": "a\x00b"},
        {**start_body(), "workflow_id": ["not", "a", "string"]},
        {**start_body(), "cron_schedule": "not a cron"},
    ],
    ids=["missing", "unknown-field", "wrong-type", "negative", "nul", "list-id", "cron"],
)
async def test_a_bad_start(paths: Paths, body: Any) -> None:
    r = await paths.compare("POST", BASE, json=body, served=True)
    assert r.status_code == 400 and r.json()["code"] == "invalid_argument"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"\xff", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b"", {"content-type": "application/json"}, 400),
        (json.dumps({**start_body(), "args": ["x" * MAX_BODY]}).encode(), {}, 413),
        (json.dumps({**start_body(), "args": DEEP}).encode(), {}, 400),
        (json.dumps(start_body()).encode(), {"content-type": "text/plain"}, 400),
        (json.dumps(start_body()).encode(), {"content-type": "application/vnd.api+json"}, 201),
    ],
    ids=["malformed", "not-utf8", "not-object", "empty", "huge", "deep", "text-plain", "plus-json"],
)
async def test_what_fastapi_refuses_is_left_to_it(
    paths: Paths, content: bytes, headers: dict[str, str], status: int
) -> None:
    r = await paths.compare("POST", BASE, content=content, headers=headers, served=False)
    assert r.status_code == status, r.text


async def test_a_chunked_body_over_the_limit_is_left_to_the_app(paths: Paths) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (MAX_BODY // 2)
        yield json.dumps(start_body()).encode()

    before = paths.fell_through.calls
    r = await paths.fast.post(BASE, content=chunks())
    assert r.status_code == 413 and paths.fell_through.calls == before + 1


async def test_an_unknown_namespace_and_nul_in_the_target(paths: Paths) -> None:
    r = await paths.compare("POST", "/api/v1/namespaces/nowhere/workflows", json=start_body(), served=True)
    assert r.status_code == 404 and r.json()["code"] == "namespace_not_found"
    r = await paths.compare("GET", "/api/v1/namespaces/nowhere/workflows/w/result", served=True)
    assert r.status_code == 404
    for url in (f"{BASE}/a%00b/result", f"{BASE}/w/result?run_id=a%00", "/api/v1/namespaces/a%00/workflows"):
        method = "POST" if url.endswith("workflows") else "GET"
        r = await paths.compare(method, url, json=start_body() if method == "POST" else None, served=False)
        assert r.status_code == 400, url


@pytest.mark.parametrize(
    ("query", "served"),
    [
        ("", True),
        ("?wait=-1", True),
        ("?wait=soon", True),
        ("?wait=nan", True),
        ("?run_id=" + "r" * 300, True),
        ("?run_id=", True),
        ("?page=1", False),
        ("?wait=0&wait=1", False),
    ],
    ids=["none", "negative-wait", "bad-wait", "nan-wait", "long-run", "empty-run", "unknown", "repeated"],
)
async def test_a_result_query(paths: Paths, query: str, served: bool) -> None:
    r = await paths.compare("GET", f"{BASE}/nobody/result{query}", served=served)
    assert r.status_code in (400, 404), r.text


async def test_results_of_runs(paths: Paths) -> None:
    if paths.insert is None:  # embedded: a run that is running, from a start
        body = start_body()
        started = (await paths.fast.post(BASE, json=body)).json()
        url = f"{BASE}/{body['workflow_id']}/result"
        r = await paths.compare("GET", url, params={"run_id": started["run_id"], "wait": "0"}, served=True)
        assert r.json()["status"] == "Running"
        return
    payload = {"metadata": {"encoding": "json/plain"}, "data": "h\u00e9llo \u2603"}
    for status, result in (
        (S.COMPLETED, {"result": [payload]}),
        (S.COMPLETED, {"result": []}),
        (S.FAILED, {"failure": {"message": "boom", "type": "ValueError"}}),
        (S.RUNNING, None),
    ):
        w = f"a/b?c-{uuid.uuid4().hex[:6]}"
        run_id = await paths.insert(workflow_id=w, status=status, result=result)
        url = f"{BASE}/{w.replace('?', '%3F')}/result"
        r = await paths.compare("GET", url, params={"run_id": run_id, "wait": "0.01"}, served=True)
        assert r.status_code == 200 and r.json()["status"] == status.value


async def test_requests_outside_the_two_routes_go_to_the_app(paths: Paths) -> None:
    for method, url in (
        ("GET", BASE),
        ("GET", f"{BASE}/w"),
        ("POST", f"{BASE}/w/signal"),
        ("PUT", BASE),
        ("HEAD", f"{BASE}/w/result"),
        ("POST", f"{BASE}?x=1"),
        ("GET", "/api/v1/namespaces/default/workflows/w/result/"),
    ):
        await paths.compare(method, url, json={} if method in ("POST", "PUT") else None, served=False)


async def test_a_get_with_a_body_or_repeated_headers_goes_to_the_app(paths: Paths) -> None:
    await paths.compare("GET", f"{BASE}/w/result", content=b"{}", served=False)
    headers = [("x-trace", "a"), ("x-trace", "b")]
    before = paths.fell_through.calls
    r = await paths.fast.get(f"{BASE}/w/result", headers=headers)
    assert r.status_code == 404 and paths.fell_through.calls == before + 1


@pytest.fixture(scope="module")
async def secured(
    module_amqp_url: str, module_database_url: str, engine: AsyncEngine
) -> AsyncIterator[Paths]:
    bus = AmqpBus(module_amqp_url, connection_name="fast-path-secured")
    await bus.connect()
    settings = FrontendSettings(
        http_port=0,
        amqp_url=module_amqp_url,
        database_url=module_database_url,
        shard_count=SHARDS,
        commands_enabled=False,
        max_body_bytes=MAX_BODY,
        auth_enabled=True,
        auth_bootstrap_key=KEY,  # type: ignore[arg-type]
    )
    service = FrontendService(
        Runtime(bus=bus, engine=engine, member_id=f"fps-{uuid.uuid4().hex[:8]}", shard_count=SHARDS), settings
    )
    await service.start()
    try:
        async with _paths(service, None) as p:
            yield p
    finally:
        await service.stop()
        await bus.close()


async def test_keys_are_checked_as_by_the_app(secured: Paths) -> None:
    for headers in ({}, {"authorization": "Bearer wrong-key"}, {"authorization": "Basic " + KEY}):
        r = await secured.compare("POST", BASE, json=start_body(), headers=headers, served=True)
        assert r.status_code == 401 and "www-authenticate" in r.headers, headers
        r = await secured.compare("GET", f"{BASE}/w/result", headers=headers, served=True)
        assert r.status_code == 401, headers
    good = {"authorization": f"bearer {KEY}"}
    r = await secured.compare("GET", f"{BASE}/w/result", headers=good, served=True)
    assert r.status_code == 404


async def test_over_tcp_through_uvicorn(
    module_amqp_url: str, module_database_url: str, engine: AsyncEngine, fake_history: FakeHistory
) -> None:
    """What uvicorn serves (the fast path, behind the httptools protocol) answers as the FastAPI
    app does; uvicorn's own headers (date, server) aside."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = AmqpBus(module_amqp_url, connection_name="fast-path-tcp")
    await bus.connect()
    settings = FrontendSettings(
        http_host="127.0.0.1",
        http_port=port,
        amqp_url=module_amqp_url,
        database_url=module_database_url,
        shard_count=SHARDS,
        request_timeout_seconds=2.0,
        max_body_bytes=MAX_BODY,
        commands_enabled=False,
    )
    runtime = Runtime(bus=bus, engine=engine, member_id=f"fpt-{uuid.uuid4().hex[:8]}", shard_count=SHARDS)
    service = FrontendService(runtime, settings)
    counting = Counting(service.fastapi_app)
    # What uvicorn serves, with the requests left to the app counted.
    service._app = FastPath(app=counting, calls=service.inprocess_calls, max_body_bytes=MAX_BODY)
    await service.start()
    tcp = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.fastapi_app), base_url="http://x")
    body = start_body()
    try:
        # History is faked (conftest.py): a started run has no row, so its result is a 404.
        for method, url, kw, served, status in (
            ("POST", BASE, {"json": body}, True, 201),
            ("POST", BASE, {"json": {**body, "request_id": "other"}}, True, 409),
            ("POST", BASE, {"json": {**start_body(), "workflow_id": 7}}, True, 400),
            (
                "POST",
                BASE,
                {"content": b"{not json", "headers": {"content-type": "application/json"}},
                False,
                400,
            ),
            ("POST", BASE, {"json": {**start_body(), "args": ["x" * MAX_BODY]}}, False, 413),
            ("POST", "/api/v1/namespaces/nowhere/workflows", {"json": start_body()}, True, 404),
            ("GET", f"{BASE}/{body['workflow_id']}/result", {"params": {"wait": "0"}}, True, 404),
            ("GET", f"{BASE}/nobody/result", {"params": {"wait": "soon"}}, True, 400),
            ("GET", f"{BASE}/a%00b/result", {}, False, 400),
        ):
            before = counting.calls
            r = await tcp.request(method, url, **kw)
            assert (counting.calls == before) is served, (method, url, r.status_code, r.text)
            p = await plain.request(method, url, **kw)
            assert r.status_code == p.status_code == status, (method, url, r.text)
            assert r.content == p.content, (method, url)
            mine = [(k, v) for k, v in r.headers.multi_items() if k not in ("date", "server")]
            assert mine == p.headers.multi_items(), (method, url)
    finally:
        await tcp.aclose()
        await plain.aclose()
        await service.stop()
        await bus.close()
