"""Tidal as a system under test: the full stack (each service its own process, the worker in its
own process or in the bench's loop) and the embedded mode (one process, in-memory bus, SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from common import ROOT
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.stack import Stack

from .tidal_shapes import ACTIVITIES, WORKFLOWS, GreetingWorkflow, SleepWorkflow, TenActivitiesWorkflow

__all__ = ["BenchStack", "TidalSystem", "history_owners", "running_embedded", "stack_worker", "start_stack"]

BENCH = Path(__file__).resolve().parents[1]
RUN = {"one": GreetingWorkflow.run, "ten": TenActivitiesWorkflow.run, "sleep": SleepWorkflow.run}


class TidalSystem:
    """The bench's `System` on a Tidal client."""

    def __init__(self, *, client: Client, task_queue: str, eager: bool = False) -> None:
        self._client = client
        self._task_queue = task_queue
        self._eager = eager

    async def start(self, shape: str, workflow_id: str, arg: Any) -> Any:
        return await self._client.start_workflow(
            RUN[shape], arg, id=workflow_id, task_queue=self._task_queue, request_eager_start=self._eager
        )

    async def execute(self, shape: str, workflow_id: str, arg: Any) -> Any:
        """`Client.execute_workflow`: the start waits for the result (one request)."""
        return await self._client.execute_workflow(
            RUN[shape], arg, id=workflow_id, task_queue=self._task_queue, request_eager_start=self._eager
        )

    @contextlib.asynccontextmanager
    async def colocated(self, *, concurrency: int) -> AsyncIterator[tuple[TidalSystem, TidalSystem]]:
        """A worker in this (the bench's) process, built with this client, on a fresh task queue;
        yields (starts without eager start, starts with it) on that queue (`seq-eager`)."""
        queue = f"bench-colocated-{uuid.uuid4().hex[:6]}"
        async with Worker(
            self._client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            max_concurrent_workflow_tasks=concurrency,
            max_concurrent_activities=concurrency,
        ):
            yield (
                TidalSystem(client=self._client, task_queue=queue),
                TidalSystem(client=self._client, task_queue=queue, eager=True),
            )

    async def result(self, handle: Any) -> Any:
        return await handle.result()

    async def timer_lateness(self, handle: Any, result: Any, seconds: float) -> float:
        """TimerFired's time minus TimerStarted's time plus the timer's duration (both stamped by
        history: the batch that armed it, the batch that applied the fire)."""
        events = (await handle.fetch_history()).events
        started = next(e for e in events if e.event_type == "TimerStarted")
        fired = next(e for e in events if e.event_type == "TimerFired")
        due = started.event_time + started.attributes.start_to_fire_timeout
        return float((fired.event_time - due).total_seconds())


class BenchStack(Stack):
    """`Stack`, optionally running each service under cProfile (stats written on SIGTERM)."""

    profile_dir: Path | None = None

    def migrate(self) -> None:
        with open(self.log_dir / "migrate.log", "ab") as log:
            subprocess.run(
                [sys.executable, "-m", "tidal_server.cli", "migrate"],
                env=self.env(),
                check=True,
                cwd=ROOT,
                timeout=120,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self, name: str, *, key: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        if self.profile_dir is None:
            return super().start(name, key=key, **extra_env)
        key = key or name
        log = open(self.log_dir / f"tidal-{key}-{os.getpid()}.log", "ab")
        pstats = str(self.profile_dir / f"{key}.pstats")
        cmd = [sys.executable, "-m", "cProfile", "-o", pstats, "-m", "tidal_server.cli", "run", name]
        proc = subprocess.Popen(
            cmd, env=self.env(**extra_env), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.procs[key] = proc
        return proc


def start_stack(stack: BenchStack, *, history_processes: int) -> None:
    """Migrate, then history (one process, or several with their own member ids), matching,
    timer and frontend, each its own process."""
    stack.migrate()
    if history_processes == 1:
        stack.start("history")
    else:
        for i in range(1, history_processes + 1):
            stack.start("history", key=f"history-{i}", TIDAL_MEMBER_ID=f"history-{i}")
    for name in ("matching", "timer", "frontend"):
        stack.start(name)


async def history_owners(dsn: str) -> dict[str, int]:
    """Shards owned per history member (the `shards` table)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT owner, count(*) AS n FROM shards GROUP BY owner")
    finally:
        await conn.close()
    return {str(r["owner"]): int(r["n"]) for r in rows}


async def wait_even_split(dsn: str, *, processes: int, shards: int, timeout: float) -> dict[str, int]:
    """Polls until every history process owns its share of the shards (or the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        owners = await history_owners(dsn)
        even = len(owners) == processes and max(owners.values()) - min(owners.values()) <= 1
        if (even and sum(owners.values()) == shards) or time.monotonic() > deadline:
            return owners
        await asyncio.sleep(0.2)


async def _start_worker_process(
    stack: Stack, task_queue: str, concurrency: int, log_dir: Path, profile_dir: Path | None
) -> asyncio.subprocess.Process:
    cmd = [sys.executable, str(BENCH / "worker_proc.py"), stack.address, stack.amqp_url, task_queue]
    cmd += ["--concurrency", str(concurrency)]
    if profile_dir is not None:
        cmd += ["--profile", str(profile_dir / "worker.pstats")]
    with open(log_dir / "worker.log", "ab") as log:  # noqa: ASYNC230 - once, before the run
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT
        )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if line.strip() != b"READY":
            raise RuntimeError(f"worker process did not start (see {log_dir / 'worker.log'}): {line!r}")
    except BaseException:
        await _stop_process(proc)
        raise
    return proc


async def _stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def stack_worker(
    client: Client,
    stack: Stack,
    *,
    mode: str,
    concurrency: int,
    log_dir: Path,
    profile_dir: Path | None,
    eager_start: bool = False,
) -> AsyncIterator[tuple[TidalSystem, dict[str, int]]]:
    """A worker for every shape on a fresh task queue, in its own process (`process`) or in the
    bench's loop (`inline`); yields the system and the worker's process root (if any).
    `eager_start`: every start asks for eager workflow start (it is granted only inline)."""
    queue = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    if mode == "process":
        proc = await _start_worker_process(stack, queue, concurrency, log_dir, profile_dir)
        try:
            yield TidalSystem(client=client, task_queue=queue, eager=eager_start), {"worker": proc.pid}
        finally:
            await _stop_process(proc)
        return
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        max_concurrent_workflow_tasks=concurrency,
        max_concurrent_activities=concurrency,
    ):
        yield TidalSystem(client=client, task_queue=queue, eager=eager_start), {}


@contextlib.asynccontextmanager
async def running_embedded(*, concurrency: int, eager_start: bool = False) -> AsyncIterator[TidalSystem]:
    """The embedded engine and a worker in the bench process (what `start_local()` gives)."""
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client,
            task_queue="bench-embedded",
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            max_concurrent_workflow_tasks=concurrency,
            max_concurrent_activities=concurrency,
        ):
            yield TidalSystem(client=env.client, task_queue="bench-embedded", eager=eager_start)
    finally:
        await env.shutdown()
