"""A TCP proxy in front of the broker, so a test can cut a client's connection like a network fault
(the broker itself stays up, and so do the test's other connections), or hold back what the broker
sends (confirms, deliveries) before cutting, or drop it on the floor."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Proxy"]


class Proxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self._replies = asyncio.Event()
        self._replies.set()
        self.drop_replies = False
        """While set, what the broker sends (confirms, replies, deliveries) is read and thrown away."""
        self.cut_after: int | None = None
        """While set, that many more bytes from the broker reach the client, then the connection is
        cut (a frame cut short on the wire)."""

    @classmethod
    async def before(cls, amqp_url: str) -> tuple[Proxy, str]:
        """A started proxy to the broker of `amqp_url`, and the same URL through it."""
        url = urlsplit(amqp_url)
        proxy = cls(url.hostname or "127.0.0.1", url.port or 5672)
        port = await proxy.start()
        netloc = f"{url.username}:{url.password}@127.0.0.1:{port}"
        return proxy, urlunsplit(url._replace(netloc=netloc))

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(*self.target)
        self.writers |= {client_w, broker_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, gate: asyncio.Event | None) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    if gate is not None:
                        await gate.wait()
                        if self.drop_replies:
                            continue
                        if self.cut_after is not None:
                            if len(data) >= self.cut_after:
                                w.write(data[: self.cut_after])
                                await w.drain()
                                self.cut_after = None
                                self.cut()
                                break
                            self.cut_after -= len(data)
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
