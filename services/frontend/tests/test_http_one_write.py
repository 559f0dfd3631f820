"""A response's head and body in one write (http_protocol.OneWriteTransport): uvicorn writes the
head on `http.response.start` and the body on `http.response.body`, two sends per answer.

The transport's rules, against a recording transport (the write count is the point: one send
for a response sent in one turn, in order, nothing held past the turn or a close, nothing
written to a connection the client left), then the protocol in a real uvicorn over TCP: plain,
streamed across turns, 100-continue, keep-alive and HEAD answers arrive whole and in order.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from tidal_frontend.http_protocol import OneWriteTransport, ProblemHttpToolsProtocol

from tests.support.polling import until


class _Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


async def test_a_head_and_body_sent_in_one_turn_are_one_write() -> None:
    raw = _Recording()
    t = OneWriteTransport(raw)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert raw.writes == []
    t.write(b"{}")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.write(b"more")  # later writes go straight through
    assert raw.writes[1:] == [b"more"]
    await asyncio.sleep(0)  # the turn's flush finds nothing held
    assert len(raw.writes) == 2
    assert t.get_extra_info("peername") == "extra:peername"  # the rest is the transport's


async def test_a_head_alone_goes_out_when_the_turn_ends() -> None:
    raw = _Recording()
    t = OneWriteTransport(raw)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await until(lambda: bool(raw.writes), deadline=5, what="the held head to be flushed")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


async def test_close_writes_what_is_held_first_and_a_gone_client_gets_nothing() -> None:
    raw = _Recording()
    t = OneWriteTransport(raw)  # type: ignore[arg-type]
    t.write(b"head")
    t.close()
    assert raw.writes == [b"head"] and raw.closed
    gone = _Recording()
    t = OneWriteTransport(gone)  # type: ignore[arg-type]
    t.write(b"head")
    gone.closing = True  # the client hung up within the turn
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert gone.writes == []


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"a" * 10, b"b" * 70_000, b"c"):
            await asyncio.sleep(0.01)  # each chunk in a later turn than the head
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    answer = b"echo:" + body
    headers = [(b"content-length", str(len(answer)).encode()), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
async def served() -> AsyncIterator[int]:
    port = _port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=ProblemHttpToolsProtocol, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, deadline=15, what="uvicorn to start")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def test_answers_arrive_whole_over_tcp(served: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}") as http:
        # keep-alive: several requests on one connection, each answered in order
        for i in range(3):
            r = await http.post("/echo", content=f"x{i}\x00".encode())
            assert (r.status_code, r.content) == (201, f"echo:x{i}\x00".encode())
        big = b"z" * 3_000_000  # the answer is larger than a socket buffer
        r = await http.post("/echo", content=big)
        assert r.content == b"echo:" + big
        r = await http.get("/stream")
        assert r.content == b"a" * 10 + b"b" * 70_000 + b"c"
        r = await http.head("/echo")
        assert r.status_code == 201 and r.content == b""
    # 100-continue: the interim answer, then the final one, in that order on the wire
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    try:
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        async with asyncio.timeout(15):
            interim = await reader.readuntil(b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100")
            writer.write(b"hi")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 201")
            assert await reader.readexactly(7) == b"echo:hi"
    finally:
        writer.close()
