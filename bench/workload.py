"""The workload: one-activity GreetingWorkflows, as a concurrent burst and one at a time."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

from common import latency_summary_ms
from tidal.client import Client

from tests.support.workflows import GreetingWorkflow


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def warm_up(client: Client, task_queue: str, count: int = 5) -> None:
    for i in range(count):
        await client.execute_workflow(
            GreetingWorkflow.run, f"warm{i}", id=f"warm-{uuid.uuid4().hex}", task_queue=task_queue
        )


async def burst(
    client: Client, task_queue: str, *, n: int, concurrency: int, label: str, timeout: float
) -> dict[str, Any]:
    """Start ``n`` workflows with at most ``concurrency`` in flight (start + wait for result)."""
    sem = asyncio.Semaphore(concurrency)
    prefix = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    total: list[float] = []
    starts: list[float] = []
    done = 0
    errors: list[str] = []

    async def one(i: int) -> None:
        nonlocal done
        async with sem:
            t0 = time.perf_counter()
            try:
                handle = await client.start_workflow(
                    GreetingWorkflow.run, f"n{i}", id=f"{prefix}-{i}", task_queue=task_queue
                )
                t1 = time.perf_counter()
                result = await handle.result()
                if result != f"Hello, n{i}!":
                    raise AssertionError(f"unexpected result {result!r}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            t2 = time.perf_counter()
            starts.append(t1 - t0)
            total.append(t2 - t0)
            done += 1

    async def progress() -> None:
        last, last_t = 0, time.perf_counter()
        while True:
            await asyncio.sleep(2.0)
            now = time.perf_counter()
            say(
                f"  {label}: {done}/{n} done, {(done - last) / (now - last_t):.0f} wf/s now, "
                f"{len(errors)} errors"
            )
            last, last_t = done, now

    reporter = asyncio.create_task(progress())
    begin = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout=timeout)
    finally:
        reporter.cancel()
    elapsed = time.perf_counter() - begin
    if errors:
        say(f"  {label}: {len(errors)} workflows failed, first: {errors[0]}")
    return {
        "n": n,
        "concurrency": concurrency,
        "completed": done,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "workflows_per_s": done / elapsed,
        "start_to_result": latency_summary_ms(total),
        "start_call": latency_summary_ms(starts),
    }


async def sequential(client: Client, task_queue: str, *, m: int, label: str) -> dict[str, Any]:
    """``m`` workflows one at a time; latency of start_workflow + result (execute_workflow)."""
    total: list[float] = []
    starts: list[float] = []
    for i in range(m):
        t0 = time.perf_counter()
        handle = await client.start_workflow(
            GreetingWorkflow.run, f"s{i}", id=f"seq-{label}-{uuid.uuid4().hex}", task_queue=task_queue
        )
        t1 = time.perf_counter()
        await handle.result()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        total.append(t2 - t0)
    return {"m": m, "start_to_result": latency_summary_ms(total), "start_call": latency_summary_ms(starts)}
