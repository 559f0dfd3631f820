"""temporalio worker edges on Tidal (issue 11): `async with Worker(plugins=...)` runs the worker
through the plugins' `run_worker`, and `plugin_shutdown_timeout` bounds their code after the
worker stopped. Run embedded and on the real stack by tests/e2e/test_worker_edges.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.converter import DataConverter
from tidal.exceptions import ActivityError, CancelledError
from tidal.worker import (
    PatchActivationInput,
    Plugin,
    ReplayerConfig,
    SharedStateManager,
    Worker,
    WorkerConfig,
)
from tidal.workflow import ActivityCancellationType

from tests.support.stack import wait_for

__all__ = [
    "WORKFLOWS",
    "async_with_runs_the_plugins",
    "evicted_runs_unwind_in_the_workflow_unless_disabled",
    "patch_activation_callback_decides_for_new_runs",
    "plugin_shutdown_timeout_bounds_their_cleanup",
    "process_pool_activity_heartbeats_and_sees_cancellation",
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


@activity.defn
def crunch_in_process(parent_pid: int) -> str:
    """A sync activity for a process pool: heartbeats its pid and a count until cancelled."""
    count = 0
    deadline = time.monotonic() + DEADLINE
    while not activity.is_cancelled():
        count += 1
        activity.heartbeat(os.getpid(), count)
        if time.monotonic() > deadline:
            return "never cancelled"
        activity.wait_for_cancelled_sync(0.05)
    assert os.getpid() != parent_pid
    raise CancelledError("stopped", count)


@workflow.defn
class CrunchUntilStopped:
    def __init__(self) -> None:
        self.stop = False

    @workflow.run
    async def run(self, parent_pid: int) -> str:
        handle = workflow.start_activity(
            crunch_in_process,
            parent_pid,
            start_to_close_timeout=timedelta(seconds=DEADLINE),
            heartbeat_timeout=timedelta(seconds=2),  # cancellation arrives with a heartbeat reply
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.stop)
        handle.cancel()
        try:
            return await handle
        except ActivityError as err:
            assert isinstance(err.cause, CancelledError)
            return f"cancelled after {err.cause.details[0]} heartbeats"

    @workflow.signal
    def finish(self) -> None:
        self.stop = True


async def process_pool_activity_heartbeats_and_sees_cancellation(client: Client, task_queue: str) -> None:
    """temporalio's multiprocess activities: a sync activity on a ProcessPoolExecutor heartbeats
    through the SharedStateManager (history records its details, written in the child) and sees
    the workflow's cancellation through a manager event."""
    queue = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as mgr, concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as pool:
        manager = SharedStateManager.create_from_multiprocessing(mgr)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[CrunchUntilStopped],
            activities=[crunch_in_process],
            activity_executor=pool,
            shared_state_manager=manager,
        ):
            handle = await client.start_workflow(
                CrunchUntilStopped.run, os.getpid(), id=f"crunch-{uuid.uuid4()}", task_queue=queue
            )
            beats: list[Any] = []

            async def heartbeated() -> bool:
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].heartbeat_details:
                    beats[:] = await DataConverter.default.decode(list(pending[0].heartbeat_details))
                return bool(beats)

            await wait_for(heartbeated, timeout=DEADLINE, what="a heartbeat from the process")
            child_pid, count = beats
            assert child_pid != os.getpid() and count >= 1, beats
            await handle.signal(CrunchUntilStopped.finish)
            result = await asyncio.wait_for(handle.result(), DEADLINE)
    assert result.startswith("cancelled after ") and int(result.split()[2]) >= count, (result, count)


@workflow.defn
class PatchedBranch:
    @workflow.run
    async def run(self) -> str:
        return "new" if workflow.patched("v2") else "old"


async def patch_activation_callback_decides_for_new_runs(client: Client, task_queue: str) -> None:
    """temporalio's `patch_activation_callback`: a refused patch runs the old branch."""
    queue = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    asked: list[tuple[str, str]] = []

    def only_canaries(given: PatchActivationInput) -> bool:
        asked.append((given.workflow_info.workflow_id, given.patch_id))
        return given.workflow_info.workflow_id.startswith("canary-")

    async with Worker(
        client, task_queue=queue, workflows=[PatchedBranch], patch_activation_callback=only_canaries
    ):
        canary, other = f"canary-{uuid.uuid4()}", f"other-{uuid.uuid4()}"
        assert await client.execute_workflow(PatchedBranch.run, id=canary, task_queue=queue) == "new"
        assert await client.execute_workflow(PatchedBranch.run, id=other, task_queue=queue) == "old"
    assert asked == [(canary, "v2"), (other, "v2")], asked


# Workflow ids whose `finally` ran inside the workflow (workflow.info() works only there).
UNWOUND: list[str] = []


@workflow.defn
class HoldsUntilFinished:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.wait_condition(lambda: self.done)
        finally:
            try:
                UNWOUND.append(workflow.info().workflow_id)
            except RuntimeError:
                pass  # closed by the garbage collector, outside the workflow (unsafe eviction)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def _first_task_done(client: Client, workflow_id: str) -> bool:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return any(e.event_type == "WorkflowTaskCompleted" for e in history.events)


async def evicted_runs_unwind_in_the_workflow_unless_disabled(client: Client, task_queue: str) -> None:
    """temporalio's safe eviction: with one cached run, a second run pushes the first out of the
    cache, whose waiting coroutine is then cancelled and unwound in the workflow (its `finally`
    sees workflow.info()); with `disable_safe_workflow_eviction=True` it is just dropped."""
    await _second_run_evicts_the_first(client, task_queue, unsafe=False)
    await _second_run_evicts_the_first(client, task_queue, unsafe=True)


async def _second_run_evicts_the_first(client: Client, task_queue: str, *, unsafe: bool) -> None:
    queue = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[HoldsUntilFinished],
        max_cached_workflows=1,
        **({"disable_safe_workflow_eviction": True} if unsafe else {}),
    ):
        first, second = f"held-{uuid.uuid4()}", f"held-{uuid.uuid4()}"
        h1 = await client.start_workflow(HoldsUntilFinished.run, id=first, task_queue=queue)
        await wait_for(lambda: _first_task_done(client, first), timeout=DEADLINE, what="first task")
        assert first not in UNWOUND
        h2 = await client.start_workflow(HoldsUntilFinished.run, id=second, task_queue=queue)
        await wait_for(lambda: _first_task_done(client, second), timeout=DEADLINE, what="second task")
        if unsafe:
            assert first not in UNWOUND, UNWOUND
        else:
            await wait_for(lambda: first in UNWOUND, timeout=DEADLINE, what="first run unwound")
        for handle in (h1, h2):  # both still finish (replayed after the eviction)
            await handle.signal(HoldsUntilFinished.finish)
            await asyncio.wait_for(handle.result(), DEADLINE)
