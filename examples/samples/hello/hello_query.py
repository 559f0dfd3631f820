"""Queries: read a workflow's state while it runs and after it has completed."""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-query-task-queue"


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self._greeting = ""
        self._done = False

    @workflow.run
    async def run(self, name: str) -> None:
        self._greeting = f"Hello, {name}!"
        await workflow.wait_condition(lambda: self._done)
        self._greeting = f"Goodbye, {name}!"

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def greeting(self) -> str:
        return self._greeting


async def run(client: Client, *, workflow_id: str = "hello-query-workflow-id") -> list[str]:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
        )
        first = await handle.query(GreetingWorkflow.greeting)
        await handle.signal(GreetingWorkflow.finish)
        await handle.result()
        # A closed run answers queries too (by replaying its history).
        return [first, await handle.query(GreetingWorkflow.greeting)]


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
