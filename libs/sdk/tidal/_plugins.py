"""Worker plugins (temporalio.worker's `Plugin`; re-exported by `tidal.worker`): a chain of
responsibility over a worker's (and a replayer's) configuration and run. `Worker(plugins=[...])`
passes its config through each plugin's `configure_worker` in order before it is built, and
`Worker.run()` goes through each plugin's `run_worker` (the first plugin outermost); likewise
`Replayer(plugins=[...])` with `configure_replayer` and `run_replayer` (around
`workflow_replay_iterator`)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._worker import Worker
    from ._worker_config import WorkerConfig
    from .client import WorkflowHistory
    from .replayer import Replayer, ReplayerConfig, WorkflowReplayResult

__all__ = ["Plugin", "client_worker_plugins", "finish_plugin_run", "start_plugin_run"]

ReplayResults = AbstractAsyncContextManager[AsyncIterator["WorkflowReplayResult"]]


class Plugin(abc.ABC):
    def name(self) -> str:
        """The plugin's fully qualified class name."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    @abc.abstractmethod
    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """The worker's configuration, changed as this plugin needs (interceptors, slots...)."""

    @abc.abstractmethod
    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """Run the worker: call `await next(worker)`, with whatever this plugin adds around it."""

    @abc.abstractmethod
    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig: ...

    @abc.abstractmethod
    def run_replayer(
        self,
        replayer: Replayer,
        histories: AsyncIterator[WorkflowHistory],
        next: Callable[[Replayer, AsyncIterator[WorkflowHistory]], ReplayResults],
    ) -> ReplayResults: ...


def client_worker_plugins(client: Any) -> list[Plugin]:
    """The client's plugins that are also worker plugins: every worker on the client applies
    them first (temporalio's rule), so they are not given to the worker again."""
    config = getattr(client, "config", None)
    if not callable(config):
        return []
    return [p for p in config().get("plugins", ()) if isinstance(p, Plugin)]


async def start_plugin_run(run: Awaitable[None], started: asyncio.Event) -> asyncio.Task[None]:
    """`async with Worker(...)` with plugins, as temporalio's: the worker runs through the
    plugins' `run_worker` in a task; this returns once the worker has started (`started`), and
    raises what the run raised if it ended first (a plugin refusing, the broker unreachable)."""
    task: asyncio.Task[None] = asyncio.ensure_future(run)
    waiter = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done() and not started.is_set():
        task.result()  # its exception, if any
    return task


async def finish_plugin_run(task: asyncio.Task[None], timeout: timedelta | None) -> None:
    """After the worker stopped: give the plugins' code after `next(worker)` `timeout` to
    finish (temporalio's `plugin_shutdown_timeout`; None: no limit), then cancel it."""
    try:
        await asyncio.wait([task], timeout=timeout.total_seconds() if timeout is not None else None)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
