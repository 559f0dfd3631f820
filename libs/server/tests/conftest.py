"""The bus contract suite's shared plumbing: one `env` fixture for both buses, AmqpBus against a real
RabbitMQ (root `amqp_url` fixture) and InMemoryBus, used by test_bus_semantics.py (publishing,
routing, topology), test_bus_consuming.py (consuming and settling) and test_bus_request_reply.py.

Every test uses uuid-suffixed names, so tests never see each other's messages; the shared DLQ is
observed through a per-test "tap" queue bound to the DLX fanout exchange.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tidal_server.bus import (
    DLX_EXCHANGE,
    AmqpBus,
    Bus,
    Delivery,
    InMemoryBus,
    OutMessage,
    QueueSpec,
)

DEADLINE = 10.0


class Collector:
    """A handler that records deliveries (acking them unless told not to)."""

    def __init__(self, *, ack: bool = True) -> None:
        self.ack = ack
        self.items: list[Delivery] = []
        self._changed = asyncio.Event()

    async def __call__(self, d: Delivery) -> None:
        self.items.append(d)
        if self.ack:
            await d.ack()
        self._changed.set()

    @property
    def bodies(self) -> list[bytes]:
        return [d.body for d in self.items]

    async def wait_for(self, n: int, within: float = DEADLINE) -> list[Delivery]:
        async with asyncio.timeout(within):
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.items


class Env:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.tag = uuid.uuid4().hex[:10]
        self.queues: list[str] = []

    def name(self, what: str) -> str:
        return f"test.{what}.{self.tag}"

    async def exchange(self, kind: Any = "direct") -> str:
        name = self.name(f"ex-{kind}-{uuid.uuid4().hex[:6]}")
        await self.bus.declare_exchange(name, kind)
        return name

    async def queue(self, *bindings: tuple[str, str], **kw: Any) -> str:
        name = self.name(f"q-{uuid.uuid4().hex[:6]}")
        await self.bus.declare_queue(QueueSpec(name=name, bindings=bindings, **kw))
        self.queues.append(name)
        return name

    async def dlq_tap(self) -> Collector:
        """A private copy of everything dead-lettered from now on (DLX is a fanout)."""
        tap = Collector()
        await self.bus.consume(await self.queue((DLX_EXCHANGE, "")), tap)
        return tap


@pytest.fixture(params=["memory", "amqp"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    bus: Bus
    if request.param == "amqp":
        bus = AmqpBus(request.getfixturevalue("amqp_url"), connection_name="tidal-test-bus")
    else:
        bus = InMemoryBus()
    await bus.connect()
    e = Env(bus)
    try:
        yield e
    finally:
        for q in e.queues:
            await bus.delete_queue(q)
        await bus.close()


def msg(exchange: str, key: str, body: bytes = b"{}", **kw: Any) -> OutMessage:
    return OutMessage(exchange=exchange, routing_key=key, body=body, **kw)


async def _bodies(c: Collector, n: int) -> list[bytes]:
    return [d.body for d in await c.wait_for(n)]
