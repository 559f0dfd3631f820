"""The broker's CPU per message, by kind of message and of settling (docs/performance.md,
"The broker's cost per message"): `uv run python bench/broker_cost.py [-n 4000] [--rounds 2]`.

Starts a private RabbitMQ (tests.support.servers), then for each case publishes N messages of
1.5 KB with pipelined publisher confirms (windows of 100, as the outbox relay publishes) while a
consumer on a second connection (prefetch 100) takes and settles them; prints the broker's CPU
(utime + stime of the node from /proc) and this process's (publisher and consumer) per message.
Cases run interleaved, `--rounds` times, so the load of the box moves every case alike; `uptime`
is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.rabbitmq import RabbitMQ, start_private_rabbitmq

ERL_ARGS_ENV = "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"
# "default": RabbitMQ's start scripts, which already pass +sbwt none +sbwtdcpu none +sbwtdio none
# (schedulers sleep at once when out of work); "spin": the emulator's own default, schedulers
# busy-wait before sleeping (RabbitMQ's runtime guide, "Scheduler Busy Waiting").
NODE_FLAGS = {"default": "", "spin": "+sbwt medium +sbwtdcpu medium +sbwtdio medium"}

BODY = b'{"type":"WorkflowTask","x":"' + b"x" * 1500 + b'"}'


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    durable: bool = True
    persistent: bool = True
    max_priority: int | None = None
    priority: int | None = None
    ack_every: int = 1  # 1: one basic.ack per message; k: multiple=True every k deliveries
    no_ack: bool = False
    queue_version: int | None = None  # classic queue storage version (x-queue-version), 3.10+


CASES = (
    Case(name="durable queue, persistent, ack each"),
    Case(name="durable queue v2, persistent, ack each", queue_version=2),
    Case(name="priority queue v2 (max 5), priority 3", max_priority=5, priority=3, queue_version=2),
    Case(name="durable queue, persistent, multiple ack per 10", ack_every=10),
    Case(name="durable queue, transient, ack each", persistent=False),
    Case(name="exclusive queue, transient, ack each", durable=False, persistent=False),
    Case(name="exclusive queue, persistent, ack each", durable=False),
    Case(name="exclusive queue, transient, no ack", durable=False, persistent=False, no_ack=True),
    Case(name="priority queue (max 5), priority 3", max_priority=5, priority=3),
    Case(name="priority queue (max 5), no priority", max_priority=5),
    Case(name="priority queue (max 1), priority 1", max_priority=1, priority=1),
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_case(url: str, case: Case, n: int, pid: int) -> tuple[float, float]:
    """(broker CPU-us, this process's CPU-us) per message."""
    pub = await aio_pika.connect(url)
    sub = await aio_pika.connect(url)
    try:
        pch = await pub.channel(publisher_confirms=True)
        sch = await sub.channel()
        await sch.set_qos(prefetch_count=100)
        args: dict[str, int] = {"x-max-priority": case.max_priority} if case.max_priority else {}
        if case.queue_version:
            args["x-queue-version"] = case.queue_version
        name = f"cost.{uuid.uuid4().hex[:8]}"
        queue = await sch.declare_queue(
            name, durable=case.durable, exclusive=not case.durable, arguments=args or None
        )
        done = asyncio.Event()
        seen = 0
        mode = aio_pika.DeliveryMode.PERSISTENT if case.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            seen += 1
            if not case.no_ack and (seen % case.ack_every == 0 or seen == n):
                await message.ack(multiple=case.ack_every > 1)
            if seen == n:
                done.set()

        await queue.consume(on_message, no_ack=case.no_ack)
        before, mine = cpu_seconds(pid), time.process_time()
        for i in range(0, n, 100):
            await asyncio.gather(
                *(
                    pch.default_exchange.publish(
                        aio_pika.Message(BODY, delivery_mode=mode, priority=case.priority),
                        routing_key=name,
                    )
                    for _ in range(min(100, n - i))
                )
            )
        await asyncio.wait_for(done.wait(), 120)
        await asyncio.sleep(0.3)  # the last acks reach the broker
        cpu, mine = cpu_seconds(pid) - before, time.process_time() - mine
        await queue.delete(if_unused=False, if_empty=False)
        return cpu * 1e6 / n, mine * 1e6 / n
    finally:
        await sub.close()
        await pub.close()


def start_node(erl_args: str) -> RabbitMQ:
    """A private node started with these emulator flags (RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS)."""
    saved = os.environ.get(ERL_ARGS_ENV)
    os.environ[ERL_ARGS_ENV] = erl_args
    try:
        return start_private_rabbitmq()
    finally:
        if saved is None:
            os.environ.pop(ERL_ARGS_ENV, None)
        else:
            os.environ[ERL_ARGS_ENV] = saved


async def main(args: argparse.Namespace) -> None:
    cases = [c for c in CASES if not args.cases or any(k in c.name for k in args.cases.split(";"))]
    nodes: list[tuple[str, RabbitMQ]] = []
    try:
        for label in args.nodes.split(","):
            nodes.append((label, start_node(NODE_FLAGS[label])))
        print(uptime())
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _, node in nodes:
            await run_case(node.url, CASES[0], 1000, node_pid(node))  # warm-up
        for _ in range(args.rounds):
            for case in cases:
                for label, node in nodes:
                    cpu = await run_case(node.url, case, args.n, node_pid(node))
                    results.setdefault((case.name, label), []).append(cpu)
        print(uptime())
        print(f"CPU-us per message (publish + confirm + deliver + settle), n={args.n}: broker / client")
        for (name, label), values in results.items():
            print(f"  {name:48} {label:16} " + "  ".join(f"{b:6.1f} / {c:5.1f}" for b, c in values))
    finally:
        for _, node in nodes:
            node.stop()


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def node_pid(node: RabbitMQ) -> int:
    return int(Path(str(node._pid_file)).read_text().strip())


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--nodes", default="default", help="comma-separated: default, spin (+sbwt medium)")
    p.add_argument("--cases", default="", help="substrings of case names, separated by ; (default all)")
    asyncio.run(main(p.parse_args()))
