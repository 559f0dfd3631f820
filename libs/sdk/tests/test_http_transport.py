"""`Client.connect`'s HTTP transport (httpx's API on aiohttp's pool) over real TCP: what the
client sends, how answers and failures map to `RPCError`, and that connections are kept.

The server is a few lines of asyncio that answer what each test scripts, so the tests can
also misbehave (a chunked or gzipped answer, a close without an answer, silence)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from tidal._client_errors import RPCTimeoutOrCancelledError
from tidal._http_transport import AiohttpTransport
from tidal.client import Client
from tidal.exceptions import RPCError


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Seen], Awaitable[bytes | None]]
JSON = "content-type: application/json\r\n"


@dataclass
class Server:
    port: int
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


def response(status: int, body: bytes, *, headers: str = "content-type: application/json\r\n") -> bytes:
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
    head = f"HTTP/1.1 {status} {reason.get(status, 'X')}\r\n{headers}content-length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, target, headers, body)


Serve = Callable[[Answer], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        state = Server(port=0)

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            try:
                while (seen := await _read_request(reader)) is not None:
                    state.seen.append(seen)
                    out = await answer(seen)
                    if out is None:  # close without answering
                        return
                    writer.write(out)
                    await writer.drain()
            finally:
                writer.close()

        srv = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        servers.append(srv)
        state.port = srv.sockets[0].getsockname()[1]
        return state

    yield start
    for srv in servers:
        srv.close()


def ok(payload: object) -> Answer:
    async def answer(_: Seen) -> bytes:
        return response(200, json.dumps(payload).encode())

    return answer


async def test_connect_sends_json_auth_and_query_and_reads_the_answer(
    serve: Serve,
) -> None:
    server = await serve(ok({"run_id": "r1", "nul": "a\u0000b"}))
    client = await Client.connect(f"127.0.0.1:{server.port}", api_key="k-1")
    try:
        assert isinstance(client._http._transport, AiohttpTransport)
        assert server.seen[0].target == "/healthz"  # connect asks first (not lazy)
        body = {"request_id": "q", "text": "é\u0000"}
        got = await client._call("POST", "/api/v1/x%00y", json=body, params={"wait": 30.0, "run_id": "a&b"})
        assert got == {"run_id": "r1", "nul": "a\u0000b"}
        seen = server.seen[-1]
        assert (seen.method, seen.target) == ("POST", "/api/v1/x%00y?wait=30.0&run_id=a%26b")
        assert seen.headers["authorization"] == "Bearer k-1"
        assert seen.headers["content-type"] == "application/json"
        assert json.loads(seen.body) == body
        assert (await client._call("GET", "/empty")) == {"run_id": "r1", "nul": "a\u0000b"}
        assert server.seen[-1].body == b"" and "transfer-encoding" not in server.seen[-1].headers
    finally:
        await client.close()


async def test_the_callers_trace_reaches_the_server(serve: Serve) -> None:
    server = await serve(ok({}))
    client = await Client.connect(f"http://127.0.0.1:{server.port}", lazy=True)
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("caller") as span:
            await client._call("GET", "/x")
        trace_id = format(span.get_span_context().trace_id, "032x")
        assert trace_id in server.seen[-1].headers["traceparent"]
        assert trace.get_current_span() is trace.INVALID_SPAN
    finally:
        await client.close()


async def test_problem_bodies_become_rpc_errors_and_503_is_retried(
    serve: Serve,
) -> None:
    async def answer(seen: Seen) -> bytes:
        if seen.target == "/missing":
            return response(404, b'{"code": "not_found", "detail": "no such workflow", "run_id": "r9"}')
        if seen.target == "/text":
            return response(500, b"plain failure", headers="content-type: text/plain\r\n")
        if len([s for s in server.seen if s.target == "/busy"]) < 3:
            return response(503, b'{"code": "unavailable", "detail": "shard 7"}')
        return response(200, b'{"ok": true}')

    server = await serve(answer)
    client = await Client.connect(f"http://127.0.0.1:{server.port}", lazy=True)
    try:
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/missing")
        assert (caught.value.status, caught.value.code, caught.value.run_id) == ("not_found", 404, "r9")
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/text")
        assert caught.value.status == "internal" and "plain failure" in str(caught.value)
        assert await client._call("GET", "/busy") == {"ok": True}
        assert len([s for s in server.seen if s.target == "/busy"]) == 3
    finally:
        await client.close()


async def test_chunked_and_gzipped_answers_are_read(serve: Serve) -> None:
    payload = {"blob": "x" * 3_000_000}
    packed = gzip.compress(json.dumps(payload).encode())

    async def answer(seen: Seen) -> bytes:
        if seen.target == "/gzip":
            return response(
                200, packed, headers="content-type: application/json\r\ncontent-encoding: gzip\r\n"
            )
        chunks = [b'{"a": ', b"1", b"}"]
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n" + body
        )

    server = await serve(answer)
    client = await Client.connect(f"http://127.0.0.1:{server.port}", lazy=True)
    try:
        assert await client._call("GET", "/chunked") == {"a": 1}
        assert await client._call("GET", "/gzip") == payload
        assert server.connections == 1
    finally:
        await client.close()


async def test_a_refused_connection_is_unavailable_and_retried_until_the_deadline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    client = await Client.connect(f"http://127.0.0.1:{port}", rpc_retry_seconds=0.3, lazy=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/x")
        assert caught.value.status == "unavailable" and "cannot reach" in str(caught.value)
        assert loop.time() - started >= 0.1  # it retried
    finally:
        await client.close()


async def test_no_answer_times_out_and_a_dropped_connection_is_an_error(
    serve: Serve,
) -> None:
    never = asyncio.Event()

    async def answer(seen: Seen) -> bytes | None:
        if seen.target == "/drop":
            return None
        await never.wait()
        return b""

    server = await serve(answer)
    client = await Client.connect(f"http://127.0.0.1:{server.port}", lazy=True)
    try:
        with pytest.raises(RPCTimeoutOrCancelledError):
            await client._call("GET", "/silent", timeout=0.3)
        with pytest.raises(RPCError) as caught:
            await client._call("POST", "/drop", json={})
        assert caught.value.status == "internal"
        assert [s.target for s in server.seen].count("/drop") == 1  # a POST is never re-sent
    finally:
        never.set()
        await client.close()


async def test_connections_are_kept_with_a_hundred_calls_in_flight(
    serve: Serve,
) -> None:
    """httpx's own pool keeps 20 idle connections, so with 100 calls in flight it opened a new
    connection for most calls (this test saw 204 for 1,000 calls before the transport)."""

    async def answer(_: Seen) -> bytes:
        await asyncio.sleep(0.001)
        return response(200, b"{}")

    server = await serve(answer)
    client = await Client.connect(f"http://127.0.0.1:{server.port}", lazy=True)
    gate = asyncio.Semaphore(100)

    async def one() -> None:
        async with gate:
            await client._call("POST", "/x", json={"n": 1})

    try:
        await asyncio.gather(*(one() for _ in range(1000)))
        assert len(server.seen) == 1000
        assert server.connections <= 100, server.connections
    finally:
        await client.close()


async def test_a_client_on_the_same_server_has_its_own_connections(
    serve: Serve,
) -> None:
    from tidal.testing import _same_server

    server = await serve(ok({"ok": 1}))
    first = await Client.connect(f"http://127.0.0.1:{server.port}", api_key="k", lazy=True)
    second = _same_server(first)
    try:
        assert isinstance(second._http._transport, AiohttpTransport)
        assert second._http._transport is not first._http._transport
        await first._call("GET", "/a")
        await first.close()
        assert await second._call("GET", "/b") == {"ok": 1}
        assert server.seen[-1].headers["authorization"] == "Bearer k"
    finally:
        await second.close()


# --- calls past httpx's client layer (tidal/_http_direct.py) --------------------------------


async def _through_httpx(response: httpx.Response) -> None:
    """A response hook: a client with one sends every call through httpx's own layer."""


async def test_a_direct_call_sends_what_httpx_would(serve: Serve) -> None:
    """The same calls from a plain client (past httpx) and from one whose event hook keeps it on
    httpx reach the server identically: target, headers, body (NUL, non-ASCII, 3 MB)."""
    server = await serve(ok({"ok": "\u0000é"}))
    direct, slow = [await Client.connect(f"127.0.0.1:{server.port}", api_key="k", lazy=True) for _ in "ab"]
    for c in (direct, slow):
        c._http.headers["X-A"] = "1"  # a default header the call's own overrides
    slow._http.event_hooks["response"].append(_through_httpx)

    async def no_httpx(*args: object, **kwargs: object) -> None:
        raise AssertionError("went through httpx")

    direct._http.request = no_httpx  # type: ignore[method-assign]
    calls: list[tuple[str, str, dict[str, object]]] = [
        (
            "POST",
            "/api/v1/namespaces/default/workflows",
            {"json": {"id": "a\u0000b", "é": [1.5, None, True]}},
        ),
        ("POST", "/big", {"json": {"blob": "x" * 3_000_000}}),
        (
            "GET",
            "/api/v1/w/a%2Fb%00c/result",
            {"params": {"wait": 30.0, "run_id": "r&=?é", "f": False, "n": None}},
        ),
        ("GET", "/h", {"headers": {"X-A": "2", "traceparent": "00-1-2-01"}, "timeout": 5.0}),
    ]
    try:
        for method, path, kwargs in calls:
            got = [await c._call(method, path, **kwargs) for c in (direct, slow)]
            assert got == [{"ok": "\u0000é"}] * 2
            a, b = server.seen[-2:]
            assert (a.method, a.target, a.body) == (b.method, b.target, b.body)
            assert a.headers == b.headers
    finally:
        await direct.close()
        await slow.close()


async def test_what_httpx_must_handle_still_goes_through_it(serve: Serve) -> None:
    """A path that needs quoting, list parameters, a cookie the server set and a redirecting
    client take httpx's way; a Set-Cookie answer on the direct way is kept as httpx keeps it."""

    async def answer(seen: Seen) -> bytes:
        if seen.target == "/login":
            return response(200, b"{}", headers=JSON + "set-cookie: s=1; Path=/\r\n")
        return response(200, b'{"cookie": "%s"}' % seen.headers.get("cookie", "").encode())

    server = await serve(answer)
    client = await Client.connect(f"127.0.0.1:{server.port}", lazy=True)
    try:
        await client._call("GET", "/a b/é", params={"x": ["1", "2"]})
        assert server.seen[-1].target == "/a%20b/%C3%A9?x=1&x=2"
        assert await client._call("GET", "/login") == {}
        assert await client._call("GET", "/next") == {"cookie": "s=1"}  # httpx's jar, resent
    finally:
        await client.close()


async def test_a_direct_call_maps_failures_as_before(serve: Serve) -> None:
    async def answer(seen: Seen) -> bytes | None:
        if seen.target == "/drop":
            return None
        return response(502, b"\x00not json\xff", headers="content-type: text/plain\r\n")

    server = await serve(answer)
    client = await Client.connect(f"127.0.0.1:{server.port}", lazy=True)
    try:
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/text")
        assert (caught.value.status, caught.value.code) == ("internal", 502)
        assert "not json" in str(caught.value)
        with pytest.raises(RPCError) as caught:
            await client._call("POST", "/drop", json={})
        assert caught.value.status == "internal"  # a POST is never re-sent
        assert len([s for s in server.seen if s.target == "/drop"]) == 1
    finally:
        await client.close()
