"""temporalio worker edges on Tidal (issue 11): `async with Worker(plugins=...)` runs the worker
through the plugins' `run_worker`, and `plugin_shutdown_timeout` bounds their code after the
worker stopped. Run embedded and on the real stack by tests/e2e/test_worker_edges.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tidal import workflow
from tidal.client import Client
from tidal.worker import Plugin, ReplayerConfig, Worker, WorkerConfig

__all__ = [
    "WORKFLOWS",
    "async_with_runs_the_plugins",
    "plugin_shutdown_timeout_bounds_their_cleanup",
]

DEADLINE = 60.0


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


WORKFLOWS = [Echo]


class LingeringPlugin(Plugin):
    """Its run_worker notes the worker's start and stop, then cleans up for `linger` seconds."""

    def __init__(self, linger: float) -> None:
        self.linger = linger
        self.events: list[str] = []

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return config

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        self.events.append("started")
        try:
            await next(worker)
        finally:
            self.events.append("stopped")
            try:
                await asyncio.sleep(self.linger)  # cleanup that takes this long
                self.events.append("cleaned up")
            except asyncio.CancelledError:
                self.events.append("cancelled")
                raise

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        return config

    def run_replayer(self, replayer: Any, histories: Any, next: Any) -> Any:
        return next(replayer, histories)


async def _echo_through(client: Client, task_queue: str, plugin: LingeringPlugin, **options: Any) -> float:
    """Run one workflow on a worker with `plugin` under `async with`; the seconds the exit took."""
    queue = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    worker = Worker(client, task_queue=queue, workflows=WORKFLOWS, plugins=[plugin], **options)
    async with worker:
        assert plugin.events == ["started"]
        result = await client.execute_workflow(Echo.run, "hi", id=f"edge-{uuid.uuid4()}", task_queue=queue)
        assert result == "hi"
        exit_started = time.monotonic()
    return time.monotonic() - exit_started


async def async_with_runs_the_plugins(client: Client, task_queue: str) -> None:
    plugin = LingeringPlugin(linger=0)
    await _echo_through(client, task_queue, plugin)
    assert plugin.events == ["started", "stopped", "cleaned up"], plugin.events


async def plugin_shutdown_timeout_bounds_their_cleanup(client: Client, task_queue: str) -> None:
    plugin = LingeringPlugin(linger=3600)
    took = await _echo_through(client, task_queue, plugin, plugin_shutdown_timeout=timedelta(seconds=0.2))
    assert plugin.events == ["started", "stopped", "cancelled"], plugin.events
    assert took < DEADLINE, took
