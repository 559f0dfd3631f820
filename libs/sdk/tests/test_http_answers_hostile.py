"""What a client makes of answers a Tidal frontend never gives but a proxy, a load balancer or a
dying server can: a redirect, a body cut short by a close (with a length, or none to tell it by),
a body that is JSON but not a document. Each is an `RPCError` naming what came, on the direct
path (`_http_direct.py`) and through httpx alike, never a success, a `ValueError` or an
`AttributeError` from deep inside the client. (A chunked or gzipped answer and a close before
any answer are in test_http_transport.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tidal.client import Client
from tidal.exceptions import RPCError

Script = Callable[[str], bytes]
# Non-mapping query parameters: the call goes through httpx, not the direct path.
PATHS: dict[str, dict[str, Any]] = {"direct": {}, "httpx": {"params": [("a", "b")]}}


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> int:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0
                )
                await reader.readexactly(length)
                status_line, rest = script(lines[0].split(" ")[1].split("?")[0]).split(b"\r\n", 1)
                # Said, so that the client does not send its next call on this connection.
                writer.write(status_line + b"\r\nconnection: close\r\n" + rest)
                await writer.drain()
            finally:
                writer.close()  # every answer ends with the connection: a body without length ends here

        srv = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1])

    yield start
    for srv in servers:
        srv.close()


def _answer(path: str) -> bytes:
    if path == "/redirect":
        return (
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: https://elsewhere.example/api\r\n"
            b"content-length: 0\r\n\r\n"
        )
    if path == "/redirect-with-json":
        return b"HTTP/1.1 302 Found\r\nlocation: /login\r\ncontent-length: 2\r\n\r\n{}"
    if path == "/cut":  # no length, no chunks: the body is what came before the close
        return b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"run_id": "ab'
    if path == "/short":  # a length the close cuts short
        return (
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"run_id": "ab'
        )
    if path == "/not-a-document":
        return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4\r\n\r\nnull"
    if path == "/problem-not-a-document":
        return b'HTTP/1.1 500 Oops\r\ncontent-type: application/json\r\ncontent-length: 6\r\n\r\n"oops"'
    raise AssertionError(path)


@pytest.mark.parametrize("path_kind", list(PATHS))
async def test_redirects_cut_bodies_and_non_documents_are_rpc_errors(
    serve: Callable[[Script], Awaitable[int]], path_kind: str
) -> None:
    port = await serve(_answer)
    client = await Client.connect(f"http://127.0.0.1:{port}", lazy=True)
    extra = PATHS[path_kind]
    try:
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/redirect", **extra)
        assert caught.value.code == 307 and "https://elsewhere.example/api" in str(caught.value)
        with pytest.raises(RPCError) as caught:
            await client._call("POST", "/redirect-with-json", json={}, **extra)
        assert caught.value.code == 302 and "/login" in str(caught.value)
        with pytest.raises(RPCError) as caught:
            await client._call("POST", "/cut", json={}, **extra)
        assert caught.value.status == "internal" and "not a JSON document" in str(caught.value)
        with pytest.raises(RPCError) as caught:
            await client._call("POST", "/short", json={}, **extra)
        assert caught.value.status == "internal"  # held before: the transport's read error
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/not-a-document", **extra)
        assert caught.value.status == "internal" and "not a JSON document" in str(caught.value)
        with pytest.raises(RPCError) as caught:
            await client._call("GET", "/problem-not-a-document", **extra)
        assert (caught.value.status, caught.value.code) == ("internal", 500) and "oops" in str(caught.value)
    finally:
        await client.close()
