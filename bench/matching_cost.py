"""Matching's CPU per dispatched task (docs/performance.md, "Matching"):
`uv run python bench/matching_cost.py [-n 3000] [--rounds 3] [--profile OUT.pstats]`.

Starts a private RabbitMQ (tests.support.servers) and the matching service in a process of its own,
then, per round, publishes N AddWorkflowTask messages (the shape history sends for a workflow's
first task: two events) to the matching exchange with pipelined confirms, as history's outbox
does, while a consumer of the task queue's shared workflow queue (prefetch 100) takes and acks the
tasks; prints matching's CPU (utime + stime of its process, from /proc) per task. The first round
is a warm-up. `uptime` is printed before and after. `--profile` runs matching under cProfile (CPU time) and
writes its stats on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASK_QUEUE = "cost"
# A first workflow task as history publishes it (captured from the embedded mode).
TEMPLATE = {
    "schema_version": 1,
    "type": "AddWorkflowTask",
    "sticky_queue": None,
    "task": {
        "schema_version": 1,
        "namespace": "default",
        "workflow_id": "wf",
        "run_id": "fd4fb2ea-cc34-4595-995b-ec11cf9df1b2",
        "type": "WorkflowTask",
        "workflow_type": "GreetingWorkflow",
        "task_queue": TASK_QUEUE,
        "scheduled_event_id": 2,
        "attempt": 1,
        "first_event_id": 1,
        "history_length": 2,
        "events": [
            {
                "event_id": 1,
                "event_time": "2026-12-06T20:45:00.428116Z",
                "attributes": {
                    "type": "WorkflowExecutionStarted",
                    "workflow_type": "GreetingWorkflow",
                    "task_queue": TASK_QUEUE,
                    "input": [{"metadata": {"encoding": "json/plain"}, "data": "w"}],
                    "workflow_task_timeout": "PT10S",
                    "original_execution_run_id": "fd4fb2ea-cc34-4595-995b-ec11cf9df1b2",
                    "first_execution_run_id": "fd4fb2ea-cc34-4595-995b-ec11cf9df1b2",
                    "attempt": 1,
                    "memo": {},
                    "search_attributes": {},
                    "identity": "",
                    "request_id": "d959a6c7-042a-47bf-b9a2-46afc70d8bdf",
                    "header": {},
                    "last_completion_result": [],
                },
            },
            {
                "event_id": 2,
                "event_time": "2026-12-06T20:45:00.428116Z",
                "attributes": {
                    "type": "WorkflowTaskScheduled",
                    "task_queue": TASK_QUEUE,
                    "start_to_close_timeout": "PT10S",
                    "attempt": 1,
                },
            },
        ],
        "history_routing_key": "shard.1",
        "history_size_bytes": 1103,
    },
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def serve(url: str, profile: str | None) -> None:
    """The child: matching on `url` until SIGTERM (under cProfile counting CPU time, not wall
    time, with `profile`: a wall-clock profile charges a send() for the receiver it wakes)."""
    from tidal_matching.app import build
    from tidal_server.bus import AmqpBus
    from tidal_server.service import Runtime

    bus = AmqpBus(url, connection_name="matching-cost")
    await bus.connect()
    runtime = Runtime(bus=bus, engine=None, member_id="matching-cost", shard_count=8)  # type: ignore[arg-type]
    service = build(runtime)
    await service.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler is not None:
        profiler.enable()
    print("ready", flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await service.stop()
    await bus.close()


async def declare_task_queue(url: str) -> None:
    """The shared workflow queue, as matching declares it (its spec: priorities, dead-lettering)."""
    from tidal_matching.queues import task_queue_spec
    from tidal_schema import names
    from tidal_server.bus import AmqpBus

    bus = AmqpBus(url, connection_name="matching-cost-setup")
    await bus.connect()
    try:
        await bus.declare_queue(task_queue_spec(names.workflow_task_queue("default", TASK_QUEUE)))
    finally:
        await bus.close()


async def run_round(url: str, n: int, pid: int) -> float:
    """Matching's CPU-us per task for one round of `n`."""
    from tidal_schema import names

    pub = await aio_pika.connect(url)
    sub = await aio_pika.connect(url)
    try:
        pch = await pub.channel(publisher_confirms=True)
        exchange = await pch.get_exchange(names.MATCHING_EXCHANGE)
        sch = await sub.channel()
        await sch.set_qos(prefetch_count=100)
        queue = await sch.declare_queue(names.workflow_task_queue("default", TASK_QUEUE), passive=True)
        done = asyncio.Event()
        seen = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            seen += 1
            await message.ack()
            if seen == n:
                done.set()

        tag = await queue.consume(on_message)
        bodies = []
        for _ in range(n):
            doc = json.loads(json.dumps(TEMPLATE))
            doc["task"]["workflow_id"] = f"wf-{uuid.uuid4().hex[:12]}"
            bodies.append(json.dumps(doc).encode())
        before = cpu_seconds(pid)
        for i in range(0, n, 100):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=names.MATCHING_ROUTING_KEY,
                    )
                    for b in bodies[i : i + 100]
                )
            )
        await asyncio.wait_for(done.wait(), 300)
        await asyncio.sleep(0.3)  # matching's last acks
        cpu = cpu_seconds(pid) - before
        await queue.cancel(tag)
        return cpu * 1e6 / n
    finally:
        await sub.close()
        await pub.close()


async def main(args: argparse.Namespace) -> None:
    from tests.support.rabbitmq import start_private_rabbitmq

    rabbit = start_private_rabbitmq()
    child = None
    try:
        cmd = [sys.executable, __file__, "--serve", rabbit.url]
        if args.profile:
            cmd += ["--profile", args.profile]
        child = await asyncio.to_thread(subprocess.Popen, cmd, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if line.strip() != "ready":
            raise SystemExit(f"matching did not start: {line!r}")
        await declare_task_queue(rabbit.url)
        print(uptime())
        figures = []
        for r in range(args.rounds + 1):
            us = await run_round(rabbit.url, args.n if r else min(args.n, 500), child.pid)
            if r:
                figures.append(us)
                print(f"round {r}: matching {us:.0f} CPU-us per task", flush=True)
        print(f"matching CPU-us per task: {', '.join(f'{f:.0f}' for f in figures)}")
        print(uptime())
    finally:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            child.wait(60)
        rabbit.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default=None, help="matching under cProfile, stats written here")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.profile))
    else:
        started = time.monotonic()
        asyncio.run(main(args))
        print(f"{time.monotonic() - started:.0f} s")
