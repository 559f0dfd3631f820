"""The "ops" HTTP server of history, matching and timer: `/metrics`, `/healthz`, `/readyz`.

A few lines of asyncio instead of a web framework: three GET routes, no request bodies, and it
must keep answering while the service is busy (it runs on the service's own event loop, which is
also what /healthz proves alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger("tidal.ops")

_MAX_HEAD = 16 * 1024


class OpsServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        ready: Callable[[], bool],
        problems: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._ready = ready
        self._problems = problems
        self._server: asyncio.Server | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("ops HTTP server on http://%s:%s (/metrics /healthz /readyz)", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):  # not wait_for: on 3.11 it can swallow a cancel
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                raise ValueError("request head too large")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, ctype, body = self._route(method, target.split("?", 1)[0])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + (body if method != "HEAD" else b"")
            )
            await writer.drain()
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        text = "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", text, b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        if path == "/healthz":
            return "200 OK", text, b"ok\n"
        if path == "/readyz":
            if self._ready():
                return "200 OK", text, b"ready\n"
            lines = [f"{k}: {v}" for k, v in (self._problems() if self._problems else {}).items()]
            return "503 Service Unavailable", text, "\n".join(["not ready", *lines, ""]).encode()
        return "404 Not Found", text, b"not found\n"
