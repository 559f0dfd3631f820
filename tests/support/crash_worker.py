"""A worker process the crash tests can SIGKILL: `python -m tests.support.crash_worker ADDRESS`.

Its activity announces each attempt with a file in TIDAL_TEST_MARKERS and then waits until a
`release` file appears there, so a test can kill the worker while an attempt is running. With
FUSED_KILL_ENV set, the process SIGKILLs itself at a fixed point of its first fused completion
(no timing: the point is in the code path itself)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from tidal import activity, workflow
from tidal._completion_publisher import CompletionPublisher
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.worker import Worker

TASK_QUEUE = "crash"

FUSED_KILL_ENV = "TIDAL_TEST_FUSED_KILL"
"""`before_publish`: SIGKILL the process once its worker has run the workflow task on an eager
attempt's result and is about to publish the fused completion; `after_confirm`: right after the
broker confirmed that publish, before the attempt's delivery is acked."""


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


@activity.defn
async def marked(markers: str, index: int) -> str:
    attempt = activity.info().attempt
    (Path(markers) / f"step{index}-attempt-{attempt}").touch()
    return f"step {index} on attempt {attempt}"


@workflow.defn
class FusedVictim:
    """Two activities, each handed eagerly to the worker that scheduled it, so the first one's
    result is fused with the workflow task that schedules the second."""

    @workflow.run
    async def run(self, markers: str) -> list[str]:
        results = []
        for index in range(2):
            results.append(
                await workflow.execute_activity(
                    marked,
                    args=[markers, index],
                    start_to_close_timeout=timedelta(seconds=3),
                    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
                )
            )
        return results


class _KillingPublisher(CompletionPublisher):
    async def publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
        moment = os.environ.get(FUSED_KILL_ENV)
        fused = b'"workflow_task":{' in body
        if fused and moment == "before_publish":
            print("fused kill before_publish", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        await super().publish(routing_key, body, **props)
        if fused and moment == "after_confirm":
            print("fused kill after_confirm", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


class _CrashWorker(Worker):
    _publisher_class = _KillingPublisher


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
    async with _CrashWorker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CrashSurvivor, EagerVictim, EagerStarted, FusedVictim],
        activities=[gated, marked],
    ) as worker:
        print(f"worker ready identity={worker.identity}", flush=True)
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
