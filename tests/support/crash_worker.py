"""A worker process the crash tests can SIGKILL: `python -m tests.support.crash_worker ADDRESS`.

Its activity announces each attempt with a file in TIDAL_TEST_MARKERS and then waits until a
`release` file appears there, so a test can kill the worker while an attempt is running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.worker import Worker

TASK_QUEUE = "crash"


@activity.defn
async def gated(markers: str) -> str:
    attempt = activity.info().attempt
    (Path(markers) / f"attempt-{attempt}").touch()
    # Polls a file another process creates: no in-process event could signal it.
    while not (Path(markers) / "release").exists():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return f"done on attempt {attempt}"


@workflow.defn
class CrashSurvivor:
    """A pending activity, a pending timer and signals, all in flight when the worker dies."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, markers: str) -> dict[str, object]:
        act = workflow.start_activity(
            gated,
            markers,
            start_to_close_timeout=timedelta(seconds=4),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        timer = asyncio.ensure_future(workflow.sleep(timedelta(seconds=3)))
        await workflow.wait_condition(lambda: len(self.signals) >= 2)
        result = await act
        await timer
        return {"activity": result, "signals": self.signals}

    @workflow.signal
    def poke(self, value: str) -> None:
        self.signals.append(value)


@workflow.defn
class EagerVictim:
    """One activity, handed eagerly to the worker that completes the first workflow task."""

    @workflow.run
    async def run(self, markers: str) -> str:
        return await workflow.execute_activity(
            gated,
            markers,
            start_to_close_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


@workflow.defn
class EagerStarted:
    """Started eagerly by a worker process that dies before running its first task."""

    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


async def main(address: str, eager_start_id: str | None = None) -> None:
    """With `eager_start_id`: start EagerStarted eagerly on this process's own worker, print
    whether the first task came back in the reply, and SIGKILL this process before the worker
    completes that task (it took the task as the start returned; the completion needs the loop)."""
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CrashSurvivor, EagerVictim, EagerStarted],
        activities=[gated],
    ) as worker:
        print("worker ready", flush=True)
        if eager_start_id is not None:
            await client.start_workflow(
                EagerStarted.run,
                "eager",
                id=eager_start_id,
                task_queue=TASK_QUEUE,
                request_eager_start=True,
                task_timeout=timedelta(seconds=2),
            )
            # The granted task holds the slot it was reserved in until it is done, which it never is.
            print(f"eager granted={worker._slots.workflow_tasks_busy == 1}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *sys.argv[2:3]))
