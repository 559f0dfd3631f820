"""Clients that hang up or stall, over real TCP through uvicorn, on the real stack (RabbitMQ and
Postgres, history faked: conftest.py) and embedded.

A result long poll whose client hangs up stops waiting. Before, nothing listened for the client
leaving: each abandoned poll kept its task and its watch for the whole wait (up to
`long_poll_max_seconds`, 60 s by default), so a client that opened polls and hung up (or an SDK
whose HTTP timeout is shorter than the wait, retrying) piled them up.

A request whose body does not arrive within `body_timeout_seconds` is answered 408 and its
connection closed. Before, a client sending its body slowly (slow loris) held its connection and
a task for as long as it kept the connection open: uvicorn has no read timeout of its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.app import FrontendService
from tidal_frontend.fast_path import _may_wait
from tidal_frontend.inprocess import RESULT_ROUTE, START_ROUTE
from tidal_frontend.metrics import REQUESTS
from tidal_frontend.settings import FrontendSettings
from tidal_server.bus import AmqpBus
from tidal_server.embedded import EmbeddedServer
from tidal_server.service import Runtime

from tests.support.polling import until

from .conftest import DEADLINE, SHARDS, FakeHistory, insert_run

BASE = "/api/v1/namespaces/default/workflows"
WAIT = 50  # seconds the polls ask for: far beyond DEADLINE, so a poll that waits it out fails
BODY_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(params=["stack", "embedded"])
async def served(
    request: pytest.FixtureRequest,
    module_amqp_url: str,
    module_database_url: str,
    engine: AsyncEngine,
    fake_history: FakeHistory,
) -> AsyncIterator[tuple[FrontendService, int, Callable[[], Any]]]:
    """The frontend serving HTTP on a port, and how to get a running run's (workflow id, run id)."""
    port = _free_port()
    if request.param == "stack":
        bus = AmqpBus(module_amqp_url, connection_name="long-poll-disconnect")
        await bus.connect()
        settings = FrontendSettings(
            http_host="127.0.0.1",
            http_port=port,
            amqp_url=module_amqp_url,
            database_url=module_database_url,
            shard_count=SHARDS,
            long_poll_max_seconds=WAIT,
            body_timeout_seconds=BODY_SECONDS,
            commands_enabled=False,
        )
        runtime = Runtime(bus=bus, engine=engine, member_id=f"lpd-{uuid.uuid4().hex[:8]}", shard_count=SHARDS)
        service = FrontendService(runtime, settings)
        await service.start()

        async def running_run() -> tuple[str, str]:
            workflow_id = f"w-{uuid.uuid4().hex[:8]}"
            return workflow_id, await insert_run(engine, workflow_id=workflow_id)

        try:
            yield service, port, running_run
        finally:
            await service.stop()
            await bus.close()
    else:
        srv = EmbeddedServer(
            http_port=port,
            settings={"frontend": {"long_poll_max_seconds": WAIT, "body_timeout_seconds": BODY_SECONDS}},
        )
        await srv.start()

        async def started_run() -> tuple[str, str]:
            # No worker: the run stays running.
            workflow_id = f"w-{uuid.uuid4().hex[:8]}"
            body = json.dumps({"workflow_id": workflow_id, "workflow_type": "T", "task_queue": "q"})
            answer = await _exchange(
                port,
                f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}",
            )
            assert answer.startswith(b"HTTP/1.1 201"), answer
            return workflow_id, json.loads(answer.split(b"\r\n\r\n", 1)[1])["run_id"]

        try:
            yield srv.services["frontend"], port, started_run
        finally:
            await srv.stop()


async def _exchange(port: int, request: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        async with asyncio.timeout(DEADLINE):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("named_run", [True, False], ids=["run-named", "latest-run"])
async def test_a_long_poll_whose_client_hangs_up_stops_waiting(
    served: tuple[FrontendService, int, Callable[[], Any]], named_run: bool
) -> None:
    service, port, running_run = served
    workflow_id, run_id = await running_run()
    key = ("default", workflow_id, run_id)
    query = f"wait={WAIT}" + (f"&run_id={run_id}" if named_run else "")
    left, failed = (REQUESTS.labels("GET", RESULT_ROUTE, s) for s in ("499", "500"))
    left_before, failed_before = left._value.get(), failed._value.get()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {BASE}/{workflow_id}/result?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    await until(
        lambda: service.context.waiters.watching(key),
        what="the poll to wait",
        deadline=DEADLINE,
        interval=0.01,
    )
    writer.close()  # the client hangs up
    await writer.wait_closed()
    await until(
        lambda: not service.context.waiters.watching(key),
        what="the abandoned poll to stop",
        deadline=DEADLINE,
        interval=0.01,
    )
    assert await reader.read() == b""
    # Counted as the client's leaving, not as a server error.
    assert (left._value.get() - left_before, failed._value.get() - failed_before) == (1, 0)

    # A poll whose client stays is still answered when the wait ends (a short one here).
    answer = await _exchange(
        port, f"GET {BASE}/{workflow_id}/result?wait=0.2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == "Running"


@pytest.mark.parametrize("escaped", [False, True], ids=["plain-key", "escaped-key"])
async def test_a_start_waiting_for_its_result_whose_client_hangs_up_stands(
    served: tuple[FrontendService, int, Callable[[], Any]], escaped: bool
) -> None:
    """`wait_for_result`: the client hangs up while the start waits for the run's close. The wait
    stops, and the start stands (history has it before the wait began): retried with its
    request id it answers the same run, which is a start answered, not a second run. The key
    written with a JSON escape (`"wait\\u005ffor_result"`, the same key to any JSON parser) hid
    the wait from the fast path's look at the raw body: it then waited out its whole `wait`
    after the client had gone, so a client could pile such waits up (durable, session 13)."""
    service, port, _ = served
    workflow_id = f"w-{uuid.uuid4().hex[:8]}"
    request_id = str(uuid.uuid4())
    start = {"workflow_id": workflow_id, "workflow_type": "T", "task_queue": "q", "request_id": request_id}
    body = json.dumps({**start, "wait_for_result": WAIT})
    if escaped:
        body = body.replace('"wait_for_result"', '"wait\\u005ffor_result"')
        assert json.loads(body)["wait_for_result"] == WAIT
    waiters = service.context.waiters
    left = REQUESTS.labels("POST", START_ROUTE, "499")
    left_before = left._value.get()
    seen: list[tuple[str, str, str]] = []
    waiters.on_watch = lambda k: seen.append(k) if k[1] == workflow_id else None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        await writer.drain()
        await until(lambda: bool(seen), what="the start to wait", deadline=DEADLINE, interval=0.01)
    finally:
        waiters.on_watch = None
    key = seen[0]
    writer.close()  # the client hangs up
    await writer.wait_closed()
    # Given up as the client's leaving (not merely between two watches of the same wait).
    await until(
        lambda: left._value.get() - left_before == 1, what="the abandoned wait to stop", deadline=DEADLINE
    )
    assert not waiters.watching(key)
    assert await reader.read() == b""
    again = json.dumps(start)
    answer = await _exchange(
        port,
        f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(again)}\r\nConnection: close\r\n\r\n{again}",
    )
    assert answer.split(b" ", 2)[1] in (b"200", b"201"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["run_id"] == key[2]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (BASE, "application/json"),  # a start: the fast path reads it
        (BASE, "text/plain"),  # the same route, left to the app
        (f"{BASE}/w/signal/go", "application/json"),  # another route: the app
    ],
    ids=["fast-path", "start-left-to-the-app", "app"],
)
async def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_cut(
    served: tuple[FrontendService, int, Callable[[], Any]], path: str, content_type: str
) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            'Content-Length: 100\r\n\r\n{"workflow'.encode()
        )
        await writer.drain()
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with asyncio.timeout(DEADLINE):
            answer = await reader.read()  # until the server closes the connection
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code":"request_timeout"' in answer.replace(b" ", b""), answer
        assert loop.time() - began >= BODY_SECONDS * 0.9
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("body", "waits"),
    [
        (b'{"workflow_id": "w", "wait_for_result": 5}', True),
        (b'{"workflow_id": "w", "wait\\u005ffor_result": 5}', True),
        # A plain start with an escaped argument (json.dumps escapes every non-ASCII character):
        # not a waiting start, so a client hanging up does not cancel it.
        (b'{"workflow_id": "w", "args": ["\\u00e9"]}', False),
        (b'{"args": ["\\u00e9"], ' + b"[" * 100_000, False),  # no JSON: the app answers it
        (b"[" * 100_000 + b'"\\u00e9"' + b"]" * 100_000, False),  # past the parser's depth
    ],
    ids=["plain-key", "escaped-key", "escaped-argument", "not-json", "nested"],
)
def test_which_starts_wait_for_their_result(body: bytes, waits: bool) -> None:
    assert _may_wait(body) is waits
