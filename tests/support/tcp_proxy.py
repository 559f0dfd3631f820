"""A TCP proxy in front of the broker, so a test can cut a client's connection like a network
fault (both sockets aborted at once, nothing flushed)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, url: str) -> None:
        self._url = urlsplit(url)
        self.target = (self._url.hostname or "127.0.0.1", self._url.port or 5672)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.connections = 0
        self._replies = asyncio.Event()
        self._replies.set()

    async def start(self) -> str:
        """Listen, and return the AMQP URL that goes through the proxy."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = int(self.server.sockets[0].getsockname()[1])
        netloc = f"{self._url.username}:{self._url.password}@127.0.0.1:{port}"
        return urlunsplit(self._url._replace(netloc=netloc))

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        broker_r, broker_w = await asyncio.open_connection(*self.target)
        self.writers |= {client_w, broker_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, gate: asyncio.Event | None) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    if gate is not None:
                        await gate.wait()
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(client_r, broker_w, None), pipe(broker_r, client_w, self._replies))

    def hold_replies(self) -> None:
        """Keep what the broker sends (confirms, deliveries) from reaching the client."""
        self._replies.clear()

    def release_replies(self) -> None:
        self._replies.set()

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()
        self.release_replies()  # what was held dies with the sockets

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
