"""The worker's CPU per completion it publishes (docs/performance.md, "The worker's CPU per
task"): `uv run python bench/worker_publish_cost.py [-n 4000] [--rounds 3]`.

Starts a private RabbitMQ (tests.support.servers), then publishes N completion-sized bodies (650
bytes, persistent, mandatory, publisher confirms awaited by each of 100 concurrent publishers, as
a worker's tasks publish their completions) through three paths, interleaved `--rounds` times:
`aio-pika`, an aio-pika `Message` through `Exchange.publish` (the worker's path before wkcpu),
`aiormq`, aiormq's `Channel.basic_publish` on the robust channel's underlay (before wiresdk's
lean path), and `transport`, `tidal._transport.AmqpTransport.publish` as it is now. Prints this
process's CPU-us per publish (nothing consumes: the queue is purged between cases) and `uptime`
before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
from common import interleaved_rounds, run_fast  # also puts the repo root on sys.path
from opentelemetry import propagate
from tidal._transport import AmqpTransport

from tests.support.rabbitmq import start_private_rabbitmq

BODY = b'{"type":"CompleteWorkflowTask","x":"' + b"x" * 600 + b'"}'
CONCURRENCY = 100


async def aio_pika_path(transport: AmqpTransport, queue: str) -> None:
    """The worker's publish before: an aio-pika Message and Exchange per publish."""
    await transport._connection()
    assert transport._pub is not None
    headers: dict[str, str] = {}
    propagate.inject(headers)
    await transport._pub.default_exchange.publish(
        aio_pika.Message(
            BODY,
            headers=headers or None,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
        ),
        routing_key=queue,
        mandatory=True,
    )


async def aiormq_path(transport: AmqpTransport, queue: str) -> None:
    """The worker's publish before the lean path: aiormq's basic_publish on the channel under
    the robust one (a lock, a timeout scope, pamqp marshalling, a write and drain per publish)."""
    await transport._connection()
    assert transport._pub is not None
    headers: dict[str, str] = {}
    propagate.inject(headers)
    channel = await transport._pub.get_underlay_channel()
    await channel.basic_publish(
        BODY,
        exchange="",
        routing_key=queue,
        properties=aiormq.spec.Basic.Properties(
            content_type="application/json", delivery_mode=2, headers=headers or None
        ),
        mandatory=True,
    )


async def transport_path(transport: AmqpTransport, queue: str) -> None:
    await transport.publish("", queue, BODY)


PATHS: dict[str, Callable[[AmqpTransport, str], Awaitable[None]]] = {
    "aio-pika": aio_pika_path,
    "aiormq": aiormq_path,
    "transport": transport_path,
}


async def run_case(url: str, path: Callable[[AmqpTransport, str], Awaitable[None]], n: int) -> float:
    transport = AmqpTransport(url)
    conn = await transport._connection()
    try:
        channel = await conn.channel()
        queue = await channel.declare_queue(f"cost.{uuid.uuid4().hex[:8]}", durable=True)
        mine = time.process_time()
        left = n

        async def publisher() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await path(transport, queue.name)

        await asyncio.gather(*(publisher() for _ in range(CONCURRENCY)))
        mine = time.process_time() - mine
        await queue.delete(if_unused=False, if_empty=False)
        return mine * 1e6 / n
    finally:
        await transport.close()


async def main(args: argparse.Namespace) -> None:
    node = start_private_rabbitmq()
    try:
        heading = f"client CPU-us per publish (confirm awaited, {CONCURRENCY} in flight), n={args.n}:"
        await interleaved_rounds(node.url, PATHS, run_case, n=args.n, rounds=args.rounds, heading=heading)
    finally:
        node.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=3)
    run_fast(main(p.parse_args()))
