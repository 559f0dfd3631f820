"""Where one workflow's latency goes, hop by hop, on the full stack.

    uv run python bench/hops.py [-m 30] [--show 2] [--no-firehose] [--eager] [--execute]

Starts private RabbitMQ + Postgres, the stack (each service its own process) and the bench
worker in its own process, turns on RabbitMQ's firehose for the run's vhost, and runs M
one-activity workflows one at a time. Every publish into the broker and every delivery out of
it is copied to `amq.rabbitmq.trace`; a consumer on its own thread stamps each copy on arrival
(the same box, so the stamps are comparable with the client's). Per workflow the timeline is
the client's HTTP calls, those bus events (attributed by the workflow id in the body), the
history events' times and the worker's own take time of each workflow task; the report gives the
p50 of each step's offset from the previous one. `--eager`: the workflows run on a worker in this
process (its own task queue), every start asking for eager start (the first task rides the reply).
`--execute`: `execute_workflow` (the start waits for the result, one request; no "start returned").

A history event's time is history's batch time: WorkflowTaskStarted's is when history applied the
completion, not when the worker took the task (that is `worker took`). The firehose's stamps come
from a thread of this process, a little behind the other clocks when the box is busy.

What it shows, read with the stack's processes in mind: `publish X -> deliver Q` is the broker
(queueing, persistence); `deliver Q -> publish Y` is the consumer of Q (the service's work on
that message, its commit included); the firehose costs the broker some CPU, so absolute figures
are a little higher than the bench's `seq`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import procstat
from common import ROOT, run_fast
from peers.tidal_peer import BenchStack, stack_worker, start_stack
from peers.tidal_shapes import GreetingWorkflow
from tidal.client import Client

from tests.support.servers import start_servers

__all__ = ["main"]


@dataclass
class Event:
    at: float
    kind: str  # publish | deliver | client | history
    where: str
    what: str


@dataclass
class Firehose:
    url: str
    events: list[tuple[float, str, dict[str, Any], bytes]] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("firehose consumer did not start")

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        conn = await aio_pika.connect(self.url)
        try:
            ch = await conn.channel()
            q = await ch.declare_queue("", exclusive=True)
            await q.bind("amq.rabbitmq.trace", "#")

            async def on(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
                self.events.append((time.time(), msg.routing_key or "", dict(msg.headers), msg.body))

            await q.consume(on, no_ack=True)
            self._ready.set()
            await self._stop.wait()
        finally:
            await conn.close()


def _bus_events(raw: list[tuple[float, str, dict[str, Any], bytes]], wid: str) -> list[Event]:
    out = []
    key = wid.encode()
    for at, rk, headers, body in raw:
        if key not in body:
            continue
        kind, _, name = rk.partition(".")
        try:
            what = str(json.loads(body).get("type", "?"))
        except (ValueError, AttributeError):
            what = "?"
        if kind == "publish":
            keys = headers.get("routing_keys") or []
            rkey = keys[0].decode() if keys and isinstance(keys[0], bytes) else (keys[0] if keys else "")
            name = f"{name or '(default)'}:{_short(str(rkey))}"
        out.append(Event(at, kind, _short(name), what))
    return out


def _short(name: str) -> str:
    name = re.sub(r"shard\.\d+", "shard.N", name)
    if name.startswith("tidal.frontend.notify."):
        return "tidal.frontend.notify.<frontend>"
    if name.startswith("amq.rabbitmq.reply-to"):
        return "reply-to"
    if name.startswith("tidal.sticky."):
        return "tidal.sticky.<worker>"
    if name.startswith("tidal.tq."):
        return "tidal.tq.<tq>." + name.rsplit(".", 1)[-1]
    return name


async def _run(
    args: argparse.Namespace, amqp_url: str, database_url: str, log_dir: Path, roots: dict[str, int]
) -> tuple[list[list[Event]], dict[str, float]]:
    stack = BenchStack(amqp_url=amqp_url, database_url=database_url, shard_count=8, log_dir=log_dir)
    start_stack(stack, history_processes=1)
    hose = Firehose(amqp_url)
    timelines: list[tuple[list[Event], str]] = []
    try:
        await stack.wait_ready(timeout=120)
        client = await Client.connect(stack.address, amqp_url=amqp_url)
        try:
            async with stack_worker(
                client, stack, mode="process", concurrency=100, log_dir=log_dir, profile_dir=None
            ) as (system, worker_root):
                roots = {**roots, **{k: p.pid for k, p in stack.procs.items()}, **worker_root}
                sampler = procstat.CpuSampler(roots)
                for i in range(5):  # warm-up
                    h = await system.start("one", f"warm-{i}-{uuid.uuid4().hex[:6]}", "w")
                    await system.result(h)
                if args.firehose:
                    hose.start()
                sampler.start()
                async with contextlib.AsyncExitStack() as colocated:
                    queue = system._task_queue
                    if args.eager:
                        plain, _ = await colocated.enter_async_context(system.colocated(concurrency=100))
                        queue = plain._task_queue
                    runs = await _one_at_a_time(args, client, queue)
                cpu = sampler.stop()
                # After the sampler: reading the histories back is the bench's, not the workload's
                # (it cost the frontend and Postgres about a CPU-ms per workflow, counted before).
                timelines += await _timelines(runs)
                await asyncio.sleep(0.5)
        finally:
            await client.close()
    finally:
        hose.stop()
        stack.stop_all()
    out = []
    for tl, wid in timelines:
        events = tl + _bus_events(hose.events, wid)
        events.sort(key=lambda e: e.at)
        out.append(events)
    per_wf = {k: round(v * 1000 / args.m, 2) for k, v in cpu.items() if not k.startswith("_")}
    return out, per_wf


async def _one_at_a_time(args: argparse.Namespace, client: Client, queue: str) -> list[_Run]:
    """M workflows one at a time on `queue` (with `--eager`: a worker of this client's, asked for
    eager workflow start), each with the client's call times."""
    runs = []
    for i in range(args.m):
        wid = f"hops-{i}-{uuid.uuid4().hex[:8]}"
        t0 = time.time()
        t1: float | None = None
        if args.execute:
            # One request: the start waits for the result (`wait_for_result`).
            await client.execute_workflow(
                GreetingWorkflow.run, "x", id=wid, task_queue=queue, request_eager_start=args.eager
            )
            handle = client.get_workflow_handle(wid)
        else:
            handle = await client.start_workflow(
                GreetingWorkflow.run, "x", id=wid, task_queue=queue, request_eager_start=args.eager
            )
            t1 = time.time()
            await handle.result()
        t2 = time.time()
        if args.firehose:
            await asyncio.sleep(0.2)  # late copies of this workflow's messages
        runs.append(_Run(wid, handle, t0, t1, t2))
    return runs


@dataclass
class _Run:
    wid: str
    handle: Any
    t0: float
    t1: float | None  # None with --execute (one request)
    t2: float


async def _timelines(runs: list[_Run]) -> list[tuple[list[Event], str]]:
    """Each run's timeline: the client's calls and the run's history events."""
    out = []
    for r in runs:
        tl = [Event(r.t0, "client", "http", "start call"), Event(r.t2, "client", "http", "result returned")]
        if r.t1 is not None:
            tl.insert(1, Event(r.t1, "client", "http", "start returned"))
        for e in (await r.handle.fetch_history()).events:
            tl.append(Event(e.event_time.timestamp(), "history", "event", e.event_type))
            taken = getattr(e.attributes, "started_time", None)
            if e.event_type == "WorkflowTaskStarted" and taken is not None:
                # The worker's own clock as it took the task (the event's time is history's, as it
                # applied the completion).
                tl.append(Event(taken.timestamp(), "worker", "took", "WorkflowTask"))
        out.append((tl, r.wid))
    return out


def report(timelines: list[list[Event]], show: int) -> str:
    lines = []
    for tl in timelines[:show]:
        base = tl[0].at
        lines.append("")
        for e in tl:
            lines.append(f"{(e.at - base) * 1000:9.2f} ms  {e.kind:8} {e.where:40} {e.what}")
    # Each step by its label (the n-th occurrence of kind/where/what), so that workflows whose
    # timer messages interleave differently still line up; timer schedules are off the path.
    offsets: list[dict[str, float]] = []
    for tl in timelines:
        seen: dict[str, int] = {}
        mine: dict[str, float] = {}
        for e in tl:
            if e.what in ("ScheduleTimer", "ScheduleTimers"):
                continue
            label = f"{e.kind} {e.where} {e.what}"
            seen[label] = seen.get(label, 0) + 1
            mine[f"{label} #{seen[label]}" if seen[label] > 1 else label] = (e.at - tl[0].at) * 1000
        offsets.append(mine)
    common = [k for k in offsets[0] if sum(k in o for o in offsets) >= 0.9 * len(offsets)]
    common.sort(key=lambda k: statistics.median(o[k] for o in offsets if k in o))
    lines.append("")
    lines.append(f"p50 over {len(timelines)} workflows one at a time (timer schedules left out):")
    lines.append(f"{'p50 ms':>8} {'since start':>12}  step")
    prev: str | None = None
    for k in common:
        since = statistics.median(o[k] for o in offsets if k in o)
        gaps = [o[k] - o[prev] for o in offsets if k in o and prev in o] if prev else [0.0]
        lines.append(f"{statistics.median(gaps):8.2f} {since:12.2f}  {k}")
        prev = k
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-m", type=int, default=30, help="workflows one at a time")
    parser.add_argument("--show", type=int, default=1, help="timelines to print in full")
    parser.add_argument(
        "--no-firehose", dest="firehose", action="store_false", help="only the CPU and history events"
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="a worker in this process on its own task queue, every start asking for eager start",
    )
    parser.add_argument(
        "--execute",
        action="store_true",
        help="execute_workflow (the start waits for the result: one request) instead of "
        "start_workflow, then result()",
    )
    args = parser.parse_args()
    log_dir = ROOT / "bench" / "results" / f"hops-{time.strftime('%Y%m%d-%H%M%S')}"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = start_servers()
    vhost = f"tidal-hops-{uuid.uuid4().hex[:8]}"
    try:
        amqp_url = servers.rabbitmq.add_vhost(vhost)
        if args.firehose:
            servers.rabbitmq.rabbitmqctl("trace_on", "-p", vhost)
        database_url = servers.postgres.create_database(f"tidal_hops_{uuid.uuid4().hex[:8]}")
        roots = {"bench(client)": os.getpid()}
        rabbit = procstat.rabbitmq_pid(getattr(servers.rabbitmq, "_pid_file", None))
        pg = procstat.postgres_pid(getattr(servers.postgres, "_data_dir", None))
        roots.update({"rabbitmq": rabbit} if rabbit else {})
        roots.update({"postgres": pg} if pg else {})
        timelines, cpu = run_fast(_run(args, amqp_url, database_url, log_dir, roots))
        print(report(timelines, args.show))
        hose = "with" if args.firehose else "without"
        print(f"CPU-ms per workflow (one at a time, {hose} the firehose): {cpu}")
        print(f"uptime: {procstat.uptime()}")
    finally:
        with contextlib.suppress(Exception):
            servers.rabbitmq.delete_vhost(vhost)
        servers.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
