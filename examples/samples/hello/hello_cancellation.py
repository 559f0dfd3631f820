"""Cancelling a workflow: the cancellation reaches the heartbeating activity as
`asyncio.CancelledError`, the workflow's `finally` runs a cleanup activity, and the caller's
`result()` raises `WorkflowFailureError` caused by `CancelledError`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client, WorkflowFailureError
from tidal.exceptions import CancelledError
from tidal.worker import Worker

TASK_QUEUE = "hello-cancellation-task-queue"


class Activities:
    """What the activities saw, so the caller can report it (and know when to cancel)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.events: list[str] = []

    @activity.defn
    async def never_complete_activity(self) -> None:
        self.started.set()
        try:
            while True:
                activity.heartbeat()
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            self.events.append("activity cancelled")
            raise

    @activity.defn
    async def cleanup_activity(self) -> None:
        self.events.append("cleanup ran")


@workflow.defn
class CancellationWorkflow:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                Activities.never_complete_activity,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=5),
            )
        finally:
            await workflow.execute_activity(
                Activities.cleanup_activity, start_to_close_timeout=timedelta(seconds=10)
            )


async def run(client: Client, *, workflow_id: str = "hello-cancellation-workflow-id") -> list[str]:
    acts = Activities()
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CancellationWorkflow],
        activities=[acts.never_complete_activity, acts.cleanup_activity],
    ):
        handle = await client.start_workflow(CancellationWorkflow.run, id=workflow_id, task_queue=TASK_QUEUE)
        await asyncio.wait_for(acts.started.wait(), timeout=30)
        await handle.cancel()
        try:
            await handle.result()
        except WorkflowFailureError as err:
            if isinstance(err.cause, CancelledError):
                acts.events.append("workflow cancelled")
        return acts.events


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
