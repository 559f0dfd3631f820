"""AmqpBus's client CPU per message (docs/performance.md, "A lean AMQP path in the server's bus"):
`uv run python bench/bus_cost.py [-n 5000] [--rounds 3] [--profile OUT.pstats]`.

Starts a private RabbitMQ (tests.support.rabbitmq), then per round, through one `AmqpBus` on
uvloop: publishes N persistent confirmed messages of 1.5 KB with `publish_many` in windows of 100
(history's outbox relay), then consumes and acks them one by one with prefetch 100 (a service's
consumer); prints this process's CPU (`time.process_time`) per message published and per message
consumed. The first round is a warm-up. `uptime` is printed before and after. The broker's CPU is
not counted: this measures the AMQP client only, the A/B instrument for changes to `bus/amqp.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import subprocess
import sys
import time
import uuid
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tidal_server.bus import AmqpBus, Delivery, OutMessage, QueueSpec

from tests.support.rabbitmq import start_private_rabbitmq

BODY = b'{"type":"WorkflowTask","x":"' + b"x" * 1500 + b'"}'


async def one_round(bus: AmqpBus, n: int, profiler: cProfile.Profile | None) -> tuple[float, float]:
    """(CPU-us per message published, CPU-us per message consumed)."""
    queue = f"cost.{uuid.uuid4().hex[:8]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    messages = [OutMessage(exchange="", routing_key=queue, body=BODY, message_id=f"m{i}") for i in range(n)]
    if profiler is not None:
        profiler.enable()
    t0 = time.process_time()
    for i in range(0, n, 100):
        await bus.publish_many(messages[i : i + 100])
    published = time.process_time() - t0

    done = asyncio.get_running_loop().create_future()
    seen = 0

    async def handler(delivery: Delivery) -> None:
        nonlocal seen
        await delivery.ack()
        seen += 1
        if seen == n and not done.done():
            done.set_result(None)

    t0 = time.process_time()
    consumer = await bus.consume(queue, handler, prefetch=100)
    await asyncio.wait_for(done, 120)
    consumed = time.process_time() - t0
    if profiler is not None:
        profiler.disable()
    await consumer.cancel()
    await bus.delete_queue(queue)
    return published * 1e6 / n, consumed * 1e6 / n


async def main(args: argparse.Namespace) -> None:
    node = start_private_rabbitmq()
    # CPU time, not wall time: a wall-clock profile charges a send() for the receiver it wakes.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    try:
        bus = AmqpBus(node.url)
        await bus.connect()
        print(uptime())
        await one_round(bus, min(args.n, 2000), None)  # warm-up
        results = [await one_round(bus, args.n, profiler) for _ in range(args.rounds)]
        print(uptime())
        await bus.close()
    finally:
        node.stop()
    print(f"client CPU-us per message, n={args.n}: published / consumed")
    for pub, con in results:
        print(f"  {pub:6.1f} / {con:6.1f}")
    if profiler is not None:
        profiler.dump_stats(args.profile)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", default="", help="write cProfile stats of the measured rounds here")
    uvloop.run(main(p.parse_args()))
