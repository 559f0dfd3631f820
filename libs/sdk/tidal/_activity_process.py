"""Sync activities on a process pool (temporalio.worker's `SharedStateManager` and
`SharedHeartbeatSender`; re-exported by `tidal.worker`). An activity in another process cannot
share the worker's threading events or call its heartbeat hook, so the worker takes a manager of
cross-process primitives: events for cancellation and worker shutdown, and a queue that carries
heartbeats back to the worker, where a poller thread hands them to the attempt."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing.managers
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import activity as _activity
from ._payload_converter import PayloadConverter
from ._worker_errors import WorkerError

__all__ = [
    "ProcessRun",
    "SharedHeartbeatSender",
    "SharedStateManager",
    "check_activity_executor",
]

log = logging.getLogger("tidal.worker")


class SharedHeartbeatSender(ABC):
    """Sends an activity's heartbeats from the process it runs in; picklable."""

    @abstractmethod
    def send_heartbeat(self, task_token: bytes, *details: Any) -> None: ...


class SharedStateManager(ABC):
    """Cross-process primitives for activities that run outside the worker's process
    (`Worker(activity_executor=ProcessPoolExecutor(...), shared_state_manager=...)`). One manager
    may serve several workers."""

    @staticmethod
    def create_from_multiprocessing(
        mgr: multiprocessing.managers.SyncManager,
        queue_poller_executor: concurrent.futures.Executor | None = None,
    ) -> SharedStateManager:
        """From `multiprocessing.Manager()`; `queue_poller_executor` runs the thread that reads
        heartbeats (default: a one-thread pool)."""
        return _MultiprocessingSharedStateManager(
            mgr, queue_poller_executor or concurrent.futures.ThreadPoolExecutor(1)
        )

    @abstractmethod
    def new_event(self) -> threading.Event:
        """An event both the worker and the activity's process can set and wait on."""

    @abstractmethod
    async def register_heartbeater(
        self, task_token: bytes, heartbeat: Callable[..., None]
    ) -> SharedHeartbeatSender:
        """Deliver heartbeats sent for `task_token` to `heartbeat` (called on the poller
        thread); the returned sender goes to the activity's process."""

    @abstractmethod
    async def unregister_heartbeater(self, task_token: bytes) -> None:
        """Stop delivering for `task_token`, after delivering what was sent before."""


_DONE = "__tidal_heartbeat_done__"  # a queue item's details: the token's last item
_FLUSH_SECONDS = 30.0


class _MultiprocessingSharedStateManager(SharedStateManager):
    def __init__(
        self, mgr: multiprocessing.managers.SyncManager, poller: concurrent.futures.Executor
    ) -> None:
        self._mgr = mgr
        self._poller = poller
        self._queue: queue.Queue[tuple[bytes, Sequence[Any] | str]] = mgr.Queue(1000)
        self._heartbeats: dict[bytes, Callable[..., None]] = {}
        self._finished: dict[bytes, Callable[[], object]] = {}
        self._lock = threading.Lock()
        self._polling = False

    def new_event(self) -> threading.Event:
        return self._mgr.Event()

    async def register_heartbeater(
        self, task_token: bytes, heartbeat: Callable[..., None]
    ) -> SharedHeartbeatSender:
        with self._lock:
            self._heartbeats[task_token] = heartbeat
            start = not self._polling
            self._polling = True
        if start:
            self._poller.submit(self._poll)
        return _QueueSender(self._queue)

    async def unregister_heartbeater(self, task_token: bytes) -> None:
        # The marker goes behind the token's heartbeats: once the poller reaches it, every
        # heartbeat the activity sent has been delivered.
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        self._finished[task_token] = lambda: loop.call_soon_threadsafe(done.set)
        try:
            await loop.run_in_executor(None, functools.partial(self._queue.put, (task_token, _DONE), True, 5))
            # Bounded: a poller that died must not hold the attempt's completion forever.
            async with asyncio.timeout(_FLUSH_SECONDS):  # not wait_for: it can swallow a cancel
                await done.wait()
        except (TimeoutError, queue.Full):
            log.warning("heartbeats of an activity in another process were not all delivered")
        finally:
            self._finished.pop(task_token, None)
            with self._lock:
                self._heartbeats.pop(task_token, None)

    def _poll(self) -> None:
        while True:
            with self._lock:
                if not self._heartbeats:
                    self._polling = False
                    return
            try:
                token, details = self._queue.get(True, 0.5)
            except queue.Empty:
                continue
            except Exception:
                log.exception("reading activity heartbeats from other processes failed")
                with self._lock:
                    self._polling = False
                return
            if details == _DONE:
                with self._lock:
                    self._heartbeats.pop(token, None)
                finished = self._finished.get(token)
                if finished is not None:
                    finished()
                continue
            heartbeat = self._heartbeats.get(token)
            if heartbeat is not None:
                try:
                    heartbeat(*details)
                except Exception:
                    log.exception("delivering an activity heartbeat failed")


@dataclass(frozen=True)
class _QueueSender(SharedHeartbeatSender):
    queue: queue.Queue[tuple[bytes, Sequence[Any] | str]]

    def send_heartbeat(self, task_token: bytes, *details: Any) -> None:
        # Blocks while the queue is full (the worker is behind), up to 30 s, as temporalio's.
        self.queue.put((task_token, details), True, 30)


def check_activity_executor(
    activities: Mapping[str, _activity.ActivityDefinition],
    executor: concurrent.futures.Executor | None,
    manager: SharedStateManager | None,
) -> None:
    """temporalio's rules: sync activities need an executor, and one that is not a thread pool
    (a process pool) also needs a shared state manager."""
    sync = [n for n, d in activities.items() if not d.is_async]
    if sync and executor is None:
        raise WorkerError(
            f"activities {sync} are not async: pass activity_executor= (e.g. a "
            "ThreadPoolExecutor), as temporalio requires"
        )
    if sync and not isinstance(executor, concurrent.futures.ThreadPoolExecutor) and manager is None:
        raise WorkerError(
            f"activities {sync} run on {type(executor).__name__}, not a thread pool: pass "
            "shared_state_manager=SharedStateManager.create_from_multiprocessing(multiprocessing.Manager())"
        )


@dataclass(frozen=True)
class ProcessRun:
    """How one attempt of a sync activity runs in another process."""

    manager: SharedStateManager
    payload_converter_class: type[PayloadConverter]

    async def run(
        self,
        executor: concurrent.futures.Executor,
        ctx: _activity._Context,
        fn: Callable[..., Any],
        args: Any,
    ) -> Any:
        token = ctx.info.task_token
        outbound = ctx.outbound
        # Heartbeats arrive on the poller thread and go through the outbound interceptors, whose
        # end hands them to the worker's loop thread-safely.
        deliver = outbound.heartbeat if outbound is not None else (ctx.heartbeat or (lambda *d: None))
        sender = await self.manager.register_heartbeater(token, deliver)
        try:
            call = functools.partial(
                _run_in_process,
                ctx.info,
                sender,
                ctx.cancelled_event,
                ctx.shutdown_event,
                self.payload_converter_class,
                fn,
            )
            return await asyncio.get_running_loop().run_in_executor(executor, call, *args)
        finally:
            await self.manager.unregister_heartbeater(token)


def _run_in_process(
    info: _activity.Info,
    sender: SharedHeartbeatSender,
    cancelled: threading.Event,
    shutdown: threading.Event,
    payload_converter_class: type[PayloadConverter],
    fn: Callable[..., Any],
    *args: Any,
) -> Any:
    """In the activity's process: the activity context from what crossed, then the function."""
    ctx = _activity._Context(
        info=info,
        heartbeat=functools.partial(sender.send_heartbeat, info.task_token),
        cancelled_event=cancelled,
        shutdown_event=shutdown,
        payload_converter=payload_converter_class(),
    )
    token = _activity._set_context(ctx)
    try:
        return fn(*args)
    finally:
        _activity._reset_context(token)
