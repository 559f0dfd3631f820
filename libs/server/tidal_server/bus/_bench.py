"""Throughput micro-check: publish N persistent messages with publish_many, then consume them.

    uv run python -m tidal_server.bus._bench [--amqp-url amqp://guest:guest@127.0.0.1:5672] [-n 5000]

Without --amqp-url (or TIDAL_TEST_AMQP_URL) only the InMemoryBus is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from ._api import Bus, Delivery, OutMessage, QueueSpec
from .amqp import AmqpBus
from .memory import InMemoryBus


async def measure(bus: Bus, n: int, batch: int, prefetch: int) -> tuple[float, float, float]:
    """Returns (publish msgs/s, consume msgs/s, publish+consume concurrently msgs/s)."""
    await bus.connect()
    queue = f"bench.{uuid.uuid4().hex[:8]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    body = b'{"kind":"bench","payload":"' + b"x" * 200 + b'"}'
    messages = [OutMessage(exchange="", routing_key=queue, body=body) for _ in range(n)]
    try:
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            await bus.publish_many(messages[i : i + batch])
        publish_rate = n / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        await drain(bus, queue, n, prefetch)
        consume_rate = n / (time.perf_counter() - t0)

        # Producer and consumer at once (what a service pipeline looks like).
        t0 = time.perf_counter()
        consumer = asyncio.create_task(drain(bus, queue, n, prefetch))
        for i in range(0, n, batch):
            await bus.publish_many(messages[i : i + batch])
        await consumer
        pair_rate = n / (time.perf_counter() - t0)
    finally:
        await bus.delete_queue(queue)
        await bus.close()
    return publish_rate, consume_rate, pair_rate


async def drain(bus: Bus, queue: str, n: int, prefetch: int) -> None:
    done = asyncio.Event()
    count = 0

    async def handler(d: Delivery) -> None:
        nonlocal count
        await d.ack()
        count += 1
        if count == n:
            done.set()

    consumer = await bus.consume(queue, handler, prefetch=prefetch)
    await done.wait()
    await consumer.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--amqp-url", default=os.environ.get("TIDAL_TEST_AMQP_URL"))
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="messages per publish_many call")
    parser.add_argument("--prefetch", type=int, default=200)
    args = parser.parse_args()
    buses: list[tuple[str, Bus]] = [("InMemoryBus", InMemoryBus())]
    if args.amqp_url:
        buses.append(("AmqpBus", AmqpBus(args.amqp_url, connection_name="tidal-bench")))
    for name, bus in buses:
        pub, con, pair = await measure(bus, args.n, args.batch, args.prefetch)
        print(
            f"{name:12} n={args.n} batch={args.batch} prefetch={args.prefetch}: "
            f"publish {pub:,.0f} msg/s, consume {con:,.0f} msg/s, publish+consume {pair:,.0f} msg/s"
        )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the bench also runs on the default loop
        pass
    asyncio.run(main())
