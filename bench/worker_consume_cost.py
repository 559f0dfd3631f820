"""The worker's CPU per task it takes and acks (docs/performance.md, "The worker's lean AMQP
path"): `uv run python bench/worker_consume_cost.py [-n 4000] [--rounds 3]`.

Starts a private RabbitMQ (tests.support.servers), fills a queue with N task-sized bodies (1.5
KB, persistent), then consumes them with prefetch 100, acking each in its own task as a worker
does, through two paths, interleaved `--rounds` times: `aio-pika`, aio-pika's `Queue.consume`
with an `IncomingMessage` per delivery (the worker's path before), and `transport`,
`tidal._transport.AmqpTransport.consume` as it is now (aiormq's delivery, acks written with the
loop turn). Prints this process's CPU-us per task (the filling is not counted) and `uptime`
before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from common import interleaved_rounds, run_fast  # also puts the repo root on sys.path
from tidal._transport import AmqpTransport, TaskDelivery

from tests.support.rabbitmq import start_private_rabbitmq

BODY = b'{"type":"WorkflowTask","x":"' + b"x" * 1500 + b'"}'
PREFETCH = 100


async def aio_pika_path(url: str, queue: str, n: int) -> None:
    conn = await aio_pika.connect_robust(url)
    try:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        q = await channel.declare_queue(queue, passive=True)
        done = asyncio.Event()
        count = 0

        async def run(msg: AbstractIncomingMessage) -> None:
            nonlocal count
            await msg.ack()
            count += 1
            if count == n:
                done.set()

        async def on_message(msg: AbstractIncomingMessage) -> None:
            asyncio.create_task(run(msg))  # noqa: RUF006 (the worker's router tracks its tasks)

        await q.consume(on_message)
        await done.wait()
    finally:
        await conn.close()


async def transport_path(url: str, queue: str, n: int) -> None:
    transport = AmqpTransport(url)
    try:
        done = asyncio.Event()
        count = 0

        async def run(delivery: TaskDelivery) -> None:
            nonlocal count
            await delivery.ack()
            count += 1
            if count == n:
                done.set()

        async def handler(delivery: TaskDelivery) -> None:
            asyncio.create_task(run(delivery))  # noqa: RUF006 (as above)

        await transport.consume(queue, handler, prefetch=PREFETCH)
        await done.wait()
    finally:
        await transport.close()


PATHS: dict[str, Callable[[str, str, int], Awaitable[None]]] = {
    "aio-pika": aio_pika_path,
    "transport": transport_path,
}


async def run_case(url: str, path: Callable[[str, str, int], Awaitable[None]], n: int) -> float:
    queue = f"cost.{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        for start in range(0, n, 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue,
                    )
                    for _ in range(min(500, n - start))
                )
            )
        mine = time.process_time()
        await asyncio.wait_for(path(url, queue, n), timeout=300)
        mine = time.process_time() - mine
        await channel.queue_delete(queue)
        return mine * 1e6 / n
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    node = start_private_rabbitmq()
    try:
        heading = f"client CPU-us per task taken and acked (prefetch {PREFETCH}), n={args.n}:"
        await interleaved_rounds(node.url, PATHS, run_case, n=args.n, rounds=args.rounds, heading=heading)
    finally:
        node.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=3)
    run_fast(main(p.parse_args()))
