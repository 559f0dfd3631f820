"""The service as the host runs it: uvicorn on a real port, clean stop, long polls released."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.app import FrontendService, build
from tidal_frontend.settings import FrontendSettings
from tidal_server.bus import AmqpBus
from tidal_server.service import Runtime

from .conftest import DEADLINE, SHARDS, insert_run, watched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service(bus: AmqpBus, engine: AsyncEngine, port: int) -> FrontendService:
    runtime = Runtime(bus=bus, engine=engine, member_id=f"svc-{uuid.uuid4().hex[:8]}", shard_count=SHARDS)
    return FrontendService(runtime, FrontendSettings(http_port=port, long_poll_max_seconds=60))


async def test_serves_http_on_its_port_and_stops_with_long_polls_open(
    frontend_bus: AmqpBus, engine: AsyncEngine
) -> None:
    w = f"wf-{uuid.uuid4().hex[:10]}"
    run_id = await insert_run(engine, workflow_id=w)
    port = _free_port()
    service = _service(frontend_bus, engine, port)
    await service.start()
    stopped = False
    try:
        assert service.port == port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            assert (await c.get("/readyz")).status_code == 200
            with watched(service, ("default", w, run_id)) as waiting:
                poll = asyncio.create_task(c.get(f"/api/v1/namespaces/default/workflows/{w}/result?wait=60"))
                async with asyncio.timeout(DEADLINE):
                    await waiting.wait()
            async with asyncio.timeout(DEADLINE):
                await service.stop()  # must not wait the minute out
                stopped = True
                r = await poll
            assert r.json()["status"] == "Running"
    finally:
        if not stopped:
            await service.stop()


async def test_taken_port_fails_start_clearly(frontend_bus: AmqpBus, engine: AsyncEngine) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = _service(frontend_bus, engine, taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="cannot listen"):
            await service.start()
    assert service.context.listener is None


def test_build_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDAL_HTTP_PORT", "0")
    monkeypatch.setenv("TIDAL_WORKER_AMQP_URL", "amqp://workers@broker:5672")
    runtime = Runtime(bus=None, engine=None, member_id="m", shard_count=2)  # type: ignore[arg-type]
    service = build(runtime)
    assert service.name == "frontend"
    assert (
        service.settings.http_port == 0 and service.settings.worker_amqp_url == "amqp://workers@broker:5672"
    )


def test_http_is_parsed_by_httptools() -> None:
    """uvicorn takes httptools when it is installed (a declared dependency): its C parser costs
    a third of h11's CPU per request. Without it uvicorn falls back to h11 silently."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    runtime = Runtime(bus=None, engine=None, member_id="m", shard_count=2)  # type: ignore[arg-type]
    config = FrontendService(runtime, FrontendSettings(http_port=0)).uvicorn_config()
    config.load()
    assert isinstance(config.http_protocol_class, type)
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)


async def test_a_request_the_http_parser_refuses_gets_a_problem_body(
    frontend_bus: AmqpBus, engine: AsyncEngine
) -> None:
    """A request line or header the parser refuses never reaches a route; it still gets the
    API's error shape (uvicorn's own answer was text/plain, which the hostile fuzz suite caught),
    and the server keeps serving."""
    port = _free_port()
    service = _service(frontend_bus, engine, port)
    await service.start()
    try:
        for raw in (
            b"GET /api/v1/namespaces/default/workflows HTTP/1.1\r\nHost: x\r\nBad\x15Header: 1\r\n\r\n",
            b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\x00\x01\x02 garbage\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            async with asyncio.timeout(DEADLINE):
                answer = await reader.read()
            writer.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), answer
            assert b"content-type: application/problem+json" in head.lower(), answer
            problem = json.loads(body)
            assert problem["code"] == "invalid_argument" and problem["status"] == 400, problem
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            assert (await c.get("/readyz")).status_code == 200
    finally:
        await service.stop()
