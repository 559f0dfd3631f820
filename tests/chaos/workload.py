"""The chaos suite's workflows and activities, and the worker process that runs them:
`python -m tests.chaos.workload ADDRESS AMQP_URL ACTIVITY_LOG`.

Every activity execution appends one line to ACTIVITY_LOG when it finishes (workflow run,
activity id, attempt, worker pid), so the checker can tell an attempt that ran twice (defect 6:
a duplicated retry fire) from one re-run because its worker was killed (allowed: activities are
at least once). Lines are small single `write`s on an O_APPEND descriptor, so concurrent writers
and a SIGKILL never interleave or tear them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.exceptions import ApplicationError
from tidal.worker import Worker

__all__ = [
    "ALL_ACTIVITIES",
    "ALL_WORKFLOWS",
    "ENTITY_SIGNALS_PER_RUN",
    "SCHEDULE_TASK_QUEUE",
    "SCHEDULE_WORKFLOWS",
    "TASK_QUEUE",
    "ActivityWorkflow",
    "EntityWorkflow",
    "ParentWorkflow",
    "RetryWorkflow",
    "ScheduledSlow",
    "ScheduledTick",
    "SignalWorkflow",
    "TimerWorkflow",
    "UpdateWorkflow",
]

TASK_QUEUE = "chaos"
# The schedules' runs (tests/chaos/schedules.py) have their own task queue, served by the same
# worker process, so a worker kill hits them too.
SCHEDULE_TASK_QUEUE = "chaos-schedules"
LOG_ENV = "TIDAL_CHAOS_ACTIVITY_LOG"
# An entity continues as new after this many signals: the pattern that drops signals buffered
# during its last workflow task (defect 1).
ENTITY_SIGNALS_PER_RUN = 3

# Short timeouts so an attempt lost with a killed worker is retried within seconds.
_ACTIVITY_TIMEOUT = timedelta(seconds=5)
_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1))
_log_fd: int | None = None


def _record(outcome: str) -> None:
    global _log_fd
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    if _log_fd is None:
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    info = activity.info()
    line = json.dumps(
        {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity_id": info.activity_id,
            "attempt": info.attempt,
            "pid": os.getpid(),
            "t": time.time(),
            "outcome": outcome,
        }
    )
    os.write(_log_fd, (line + "\n").encode())


@activity.defn
async def greet(name: str) -> str:
    _record("completed")
    return f"Hello, {name}!"


@activity.defn
async def flaky(key: str) -> str:
    """Fails on attempts 1 and 2, succeeds from attempt 3 on."""
    attempt = activity.info().attempt
    if attempt < 3:
        _record("failed")
        raise ApplicationError(f"attempt {attempt} of {key} failed on purpose", type="Flaky")
    _record("completed")
    return f"{key} ok"


@workflow.defn
class ActivityWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=_ACTIVITY_TIMEOUT, retry_policy=_RETRY
        )


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            flaky, key, start_to_close_timeout=_ACTIVITY_TIMEOUT, retry_policy=_RETRY
        )


@workflow.defn
class TimerWorkflow:
    """Two durable timers; returns the workflow time that passed (never less than their sum)."""

    @workflow.run
    async def run(self, seconds: list[float]) -> float:
        start = workflow.now()
        for s in seconds:
            await workflow.sleep(s)
        return (workflow.now() - start).total_seconds()


@workflow.defn
class SignalWorkflow:
    """Collects `add` signals until `finish`; returns them in arrival order."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.values

    @workflow.signal
    def add(self, value: str) -> None:
        self.values.append(value)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class UpdateWorkflow:
    """Sums `add` updates (each answers the running total) until `finish`; returns the sum."""

    def __init__(self) -> None:
        self.total = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.total

    @workflow.update
    def add(self, n: int) -> int:
        self.total += n
        return self.total

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class ChildWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=_ACTIVITY_TIMEOUT, retry_policy=_RETRY
        )


@workflow.defn
class ParentWorkflow:
    """Starts `n` children at once and returns their results in order."""

    @workflow.run
    async def run(self, n: int) -> list[str]:
        me = workflow.info().workflow_id
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_child_workflow(ChildWorkflow.run, f"{me}-c{i}", id=f"{me}-c{i}")
                    for i in range(n)
                )
            )
        )


@workflow.defn
class EntityWorkflow:
    """A long-lived entity fed `add` signals: it continues as new every few signals, carrying what
    it has seen, and returns everything once `finish` arrives."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, seen: list[str]) -> list[str]:
        self.seen = [*seen, *self.seen]  # signals delivered before the first task ran come after
        target = len(seen) + ENTITY_SIGNALS_PER_RUN
        await workflow.wait_condition(lambda: self.done or len(self.seen) >= target)
        if self.done:
            return self.seen
        workflow.continue_as_new(self.seen)

    @workflow.signal
    def add(self, value: str) -> None:
        self.seen.append(value)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


ALL_WORKFLOWS: list[type[Any]] = [
    ActivityWorkflow,
    RetryWorkflow,
    TimerWorkflow,
    SignalWorkflow,
    UpdateWorkflow,
    ChildWorkflow,
    ParentWorkflow,
    EntityWorkflow,
]
ALL_ACTIVITIES = [greet, flaky]


@workflow.defn
class ScheduledTick:
    """What the every-second ALLOW_ALL schedule starts: closes at once."""

    @workflow.run
    async def run(self, tag: str) -> str:
        return tag


@workflow.defn
class ScheduledSlow:
    """What the overlap-policy schedules start: open for longer than their one-second interval,
    so SKIP and BUFFER_ONE have something to skip and buffer."""

    @workflow.run
    async def run(self, seconds: float) -> float:
        await workflow.sleep(seconds)
        return seconds


SCHEDULE_WORKFLOWS: list[type[Any]] = [ScheduledTick, ScheduledSlow]


async def _main(address: str, amqp_url: str) -> None:
    client = await Client.connect(address, amqp_url=amqp_url)
    async with (
        Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
        Worker(client, task_queue=SCHEDULE_TASK_QUEUE, workflows=SCHEDULE_WORKFLOWS),
    ):
        print(f"chaos worker {os.getpid()} ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    os.environ[LOG_ENV] = sys.argv[3]
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
