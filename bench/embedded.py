"""The embedded mode alone, quickly: `WorkflowEnvironment.start_local()` and a worker in this
process, then a burst, one at a time and/or sleeping workflows, with this process's CPU per
workflow. No RabbitMQ, no Postgres, no peers: for A/B runs and profiling
(docs/performance.md, "Embedded mode").

    uv run python bench/embedded.py [--n 400] [--m 40] [--t 1000] [--workloads burst,seq,timers]
    uvx py-spy record --gil -f raw -o burst.txt --pid PID   # PID printed after the warm-up

`--pause` waits that long after printing the PID, so a profiler can attach after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

from common import run_fast
from peers.tidal_shapes import ACTIVITIES, WORKFLOWS, GreetingWorkflow, SleepWorkflow
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

QUEUE = "bench-embedded"


def _p(values: list[float], q: float) -> float:
    return 1000 * sorted(values)[min(len(values) - 1, int(len(values) * q))]


async def _one(client: Client, i: int, tag: str) -> None:
    handle = await client.start_workflow(
        GreetingWorkflow.run, f"n{i}", id=f"{tag}-{i}-{uuid.uuid4().hex[:8]}", task_queue=QUEUE
    )
    result = await handle.result()
    if result != f"Hello, n{i}!":
        raise AssertionError(result)


async def _burst(client: Client, n: int, limit: asyncio.Semaphore) -> None:
    async def bounded(i: int) -> None:
        async with limit:
            await _one(client, i, "burst")

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(bounded(i) for i in range(n)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"burst {n}: {n / wall:.1f} wf/s, CPU {1000 * cpu / n:.2f} ms per workflow", flush=True)


async def _seq(client: Client, m: int) -> None:
    latencies: list[float] = []
    cpu = time.process_time()
    for i in range(m):
        started = time.perf_counter()
        await _one(client, i, "seq")
        latencies.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu
    print(
        f"seq {m}: p50 {_p(latencies, 0.5):.1f} ms, p90 {_p(latencies, 0.9):.1f} ms, "
        f"p99 {_p(latencies, 0.99):.1f} ms, "
        f"CPU {1000 * cpu / m:.2f} ms per workflow",
        flush=True,
    )


async def _timers(client: Client, t: int, limit: asyncio.Semaphore, seconds: float) -> None:
    handles: list[Any] = []

    async def start(i: int) -> None:
        async with limit:
            handles.append(
                await client.start_workflow(
                    SleepWorkflow.run, seconds, id=f"sleep-{i}-{uuid.uuid4().hex[:8]}", task_queue=QUEUE
                )
            )

    await asyncio.gather(*(start(i) for i in range(t)))
    await asyncio.gather(*(h.result() for h in handles))
    late: list[float] = []
    for h in handles:
        events = (await h.fetch_history()).events
        armed = next(e for e in events if e.event_type == "TimerStarted")
        fired = next(e for e in events if e.event_type == "TimerFired")
        due = armed.event_time + armed.attributes.start_to_fire_timeout
        late.append((fired.event_time - due).total_seconds())
    print(
        f"timers {t} x {seconds} s: fired - due p50 {_p(late, 0.5):.0f} ms, p90 {_p(late, 0.9):.0f} ms, "
        f"p99 {_p(late, 0.99):.0f} ms",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    workloads = set(args.workloads.split(","))
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client,
            task_queue=QUEUE,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            max_concurrent_workflow_tasks=args.concurrency,
            max_concurrent_activities=args.concurrency,
        ):
            for i in range(10):
                await _one(env.client, i, "warm")
            print(f"warmed up; pid {os.getpid()}", flush=True)
            await asyncio.sleep(args.pause)
            limit = asyncio.Semaphore(args.concurrency)
            if "burst" in workloads:
                await _burst(env.client, args.n, limit)
            if "seq" in workloads:
                await _seq(env.client, args.m)
            if "timers" in workloads:
                await _timers(env.client, args.t, limit, args.sleep)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="burst,seq", help="burst,seq,timers")
    p.add_argument("--n", type=int, default=400, help="workflows in the burst")
    p.add_argument("--m", type=int, default=40, help="workflows one at a time")
    p.add_argument("--t", type=int, default=1000, help="sleeping workflows")
    p.add_argument("--sleep", type=float, default=2.0, help="seconds each sleeps")
    p.add_argument("--concurrency", type=int, default=100, help="in flight")
    p.add_argument("--pause", type=float, default=0.0, help="seconds to wait after the warm-up")
    run_fast(main(p.parse_args()))
