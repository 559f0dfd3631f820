"""AmqpBus-only behaviour: what happens when the connection drops (the in-memory bus cannot lose it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from tidal_server.bus import AmqpBus, BusClosedError, Delivery, OutMessage, QueueSpec

DEADLINE = 30.0


class Proxy:
    """A TCP proxy in front of the broker, so a test can cut the connection like a network fault."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(*self.target)
        self.writers |= {client_w, broker_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def proxied(amqp_url: str) -> AsyncIterator[tuple[AmqpBus, Proxy]]:
    url = urlsplit(amqp_url)
    proxy = Proxy(url.hostname or "127.0.0.1", url.port or 5672)
    port = await proxy.start()
    netloc = f"{url.username}:{url.password}@127.0.0.1:{port}"
    bus = AmqpBus(urlunsplit(url._replace(netloc=netloc)), connection_name="tidal-test-bus-amqp")
    await bus.connect()
    try:
        yield bus, proxy
    finally:
        await bus.close()
        await proxy.stop()


async def test_connection_loss_requeues_and_recovers(proxied: tuple[AmqpBus, Proxy]) -> None:
    bus, proxy = proxied
    queue = f"test.amqp-loss.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        if d.redelivered:
            await d.ack()
        changed.set()

    async def wait_for(n: int) -> None:
        async with asyncio.timeout(DEADLINE):
            while len(seen) < n:
                changed.clear()
                await changed.wait()

    async def replier(d: Delivery) -> None:
        assert d.reply_to
        await bus.publish(
            OutMessage(exchange="", routing_key=d.reply_to, body=d.body, correlation_id=d.correlation_id)
        )
        await d.ack()

    rpc = f"test.amqp-loss-rpc.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=rpc))
    try:
        await bus.consume(rpc, replier)
        assert (
            await bus.request(OutMessage(exchange="", routing_key=rpc, body=b"1"), timeout=DEADLINE)
        ).body == b"1"
        await bus.consume(queue, handler, prefetch=10)
        await bus.publish_many([OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(2)])
        await wait_for(2)
        proxy.cut()
        await wait_for(4)  # the robust connection re-consumed; the broker redelivered both
        assert [d.redelivered for d in seen] == [False, False, True, True]
        assert sorted(d.body for d in seen[2:]) == [b"0", b"1"]
        with pytest.raises(BusClosedError):  # the old delivery tags died with the old channel
            await seen[0].ack()
        # Publishing and request/reply work on the new connection.
        await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
        await wait_for(5)
        assert seen[4].body == b"after"
        reply = await bus.request(OutMessage(exchange="", routing_key=rpc, body=b"2"), timeout=DEADLINE)
        assert reply.body == b"2"
    finally:
        await bus.delete_queue(queue)
        await bus.delete_queue(rpc)
