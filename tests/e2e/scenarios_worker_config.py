"""temporalio.worker parity (issue 11): worker attributes, WorkerConfig, slots, plugins and the
task queue's activities-per-second limit, as scenarios run on the embedded server and on the
real stack (tests/e2e/test_worker_parity.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import (
    Plugin,
    ReplayerConfig,
    Worker,
    WorkerConfig,
    WorkerTuner,
)

from tests.e2e.scenarios_worker_parity import Intercepted, Recorder, heartbeat_then_echo, local_echo

# --- worker attributes, config and slots --------------------------------------------------------

RUNNING: dict[str, int] = {}
PEAK: dict[str, int] = {}


@activity.defn
async def one_at_a_time(key: str) -> str:
    RUNNING[key] = RUNNING.get(key, 0) + 1
    PEAK[key] = max(PEAK.get(key, 0), RUNNING[key])
    try:
        await asyncio.sleep(0.2)  # holds its slot a while (the activity's work, not a wait on the test)
    finally:
        RUNNING[key] -= 1
    return key


@workflow.defn
class Fanout:
    @workflow.run
    async def run(self, key: str, n: int) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(one_at_a_time, key, start_to_close_timeout=timedelta(seconds=30))
                for _ in range(n)
            )
        )
        local = await asyncio.gather(
            *(
                workflow.execute_local_activity(
                    one_at_a_time, f"{key}-local", start_to_close_timeout=timedelta(seconds=30)
                )
                for _ in range(n)
            )
        )
        return len(results) + len(local)


async def worker_slots_and_config(client: Client, task_queue: str) -> None:
    """A fixed tuner with one activity and one local activity slot: four activities scheduled in
    one workflow task (some eager, some through matching) and four local activities run one at a
    time. Worker.config() rebuilds the worker; is_running / is_shutdown follow the lifecycle."""
    key = f"slots-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Fanout],
        activities=[one_at_a_time],
        tuner=WorkerTuner.create_fixed(workflow_slots=2, activity_slots=1, local_activity_slots=1),
    )
    assert not worker.is_running and not worker.is_shutdown and worker.client is client
    async with worker:
        assert worker.is_running and not worker.is_shutdown
        assert await client.execute_workflow(Fanout.run, args=[key, 4], id=key, task_queue=task_queue) == 8
    assert not worker.is_running and worker.is_shutdown
    assert PEAK[key] == 1, PEAK
    assert PEAK[f"{key}-local"] == 1, PEAK
    config = worker.config()
    assert config["tuner"] == WorkerTuner.create_fixed(
        workflow_slots=2, activity_slots=1, local_activity_slots=1
    )
    again = Worker(**config)
    async with again:
        assert (
            await client.execute_workflow(
                Fanout.run, args=[f"{key}-2", 1], id=f"{key}-2", task_queue=task_queue
            )
            == 2
        )


# --- plugins ------------------------------------------------------------------------------------


class QueuePlugin(Plugin):
    """Moves the worker to its own task queue, adds a recording interceptor and wraps run()."""

    def __init__(self, task_queue: str) -> None:
        self.task_queue = task_queue
        self.recorder = Recorder("plugin")
        self.events: list[str] = []

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return {
            **config,
            "task_queue": self.task_queue,
            "interceptors": [*config.get("interceptors", ()), self.recorder],
        }

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        self.events.append(f"start {worker.task_queue}")
        try:
            await next(worker)
        finally:
            self.events.append("stopped")

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        return config

    def run_replayer(self, replayer: Any, histories: Any, next: Any) -> Any:
        return next(replayer, histories)


async def worker_plugins(client: Client, task_queue: str) -> None:
    """Worker(plugins=[...]): the plugin's configuration is the one the worker runs with (its
    task queue, its interceptor) and its run_worker wraps Worker.run()."""
    plugin = QueuePlugin(f"{task_queue}-by-plugin")
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Intercepted],
        activities=[heartbeat_then_echo, local_echo],
        plugins=[plugin],
    )
    assert worker.task_queue == plugin.task_queue
    assert worker.config()["task_queue"] == task_queue  # what was given; active_config: what runs
    assert worker.config(active_config=True)["task_queue"] == plugin.task_queue
    running = asyncio.create_task(worker.run())
    try:
        result = await client.execute_workflow(
            Intercepted.run, "hi", id=f"plugin-{uuid.uuid4()}", task_queue=plugin.task_queue
        )
    finally:
        await worker.shutdown()
        await running
    assert result[1] == "local HI local_echo", result
    assert plugin.events == [f"start {plugin.task_queue}", "stopped"]
    assert any(c[0] == "execute" for c in plugin.recorder.calls)


STARTS: dict[str, list[float]] = {}


@activity.defn
async def note_start(key: str) -> None:
    STARTS.setdefault(key, []).append(time.monotonic())


@workflow.defn
class Burst:
    @workflow.run
    async def run(self, key: str, n: int) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(note_start, key, start_to_close_timeout=timedelta(seconds=30))
                for _ in range(n)
            )
        )


async def activities_per_second(client: Client, task_queue: str) -> None:
    """max_activities_per_second=5: four activities scheduled together take at least three
    intervals of 0.2 s to start. Checked on the span, not each gap: the limiter paces the
    hand-outs, and an activity body that starts a little late shortens the next gap (0.188 s
    seen on a loaded box); without the limit the span is about 0."""
    key = f"rate-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=task_queue, workflows=[Burst], activities=[note_start], max_activities_per_second=5
    ):
        await client.execute_workflow(Burst.run, args=[key, 4], id=key, task_queue=task_queue)
    starts = sorted(STARTS[key])
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[-1] - starts[0] >= 0.5, gaps
