"""AmqpBus-only behaviour: what happens when the connection drops (the in-memory bus cannot lose it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from tidal_server.bus import AmqpBus, BusClosedError, Delivery, OutMessage, QueueSpec, ack_all

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


async def test_ack_all_sends_one_cumulative_ack_when_nothing_below_is_unsettled(
    proxied: tuple[AmqpBus, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One basic.ack(multiple=True) for a group with nothing unsettled below it, one ack each
    otherwise; after a reconnect the new channel's tags start at 1 again and it still works."""
    import aiormq

    bus, proxy = proxied
    frames: list[tuple[int, bool]] = []
    real = aiormq.Channel.basic_ack

    async def counting(self: aiormq.Channel, delivery_tag: int, multiple: bool = False) -> None:
        frames.append((delivery_tag, multiple))
        await real(self, delivery_tag, multiple)

    monkeypatch.setattr(aiormq.Channel, "basic_ack", counting)
    queue = f"test.amqp-ackall.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue))
    seen: list[Delivery] = []
    changed = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        changed.set()

    async def wait_until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not done():
                changed.clear()
                await changed.wait()

    async def wait_for(n: int) -> None:
        await wait_until(lambda: len(seen) >= n)

    try:
        await bus.consume(queue, handler, prefetch=20)
        await bus.publish_many([OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(6)])
        await wait_for(6)
        await ack_all(seen[:4])
        assert frames == [(4, True)]
        frames.clear()
        await ack_all([seen[5]])  # 4 (tag 5) is unsettled below it: a single ack
        assert frames == [(6, False)]
        proxy.cut()  # the unsettled tag 5 is requeued; the robust connection consumes again
        await wait_for(7)
        await bus.publish_many(
            [OutMessage(exchange="", routing_key=queue, body=b"x%d" % i) for i in range(2)]
        )
        await wait_until(lambda: b"x1" in [d.body for d in seen])
        await asyncio.sleep(0.2)
        # An ack written just before the cut may not have reached the broker (its message comes
        # back too, as AMQP allows); the unsettled one always does.
        again = seen[6:]
        assert b"4" in [d.body for d in again if d.redelivered]
        frames.clear()
        await ack_all(again)  # the new channel's tags 1..n
        assert frames == [(len(again), True)]
        await asyncio.sleep(0.2)
        assert await bus.queue_depth(queue) == 0 and len(seen) == 6 + len(again)
    finally:
        await bus.delete_queue(queue)
