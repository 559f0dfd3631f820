"""Several activities in parallel: `asyncio.gather` over
`workflow.execute_activity` coroutines and `asyncio.wait` over `workflow.start_activity` handles."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-parallel-activity-task-queue"


@activity.defn
async def say_hello_activity(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class SayHelloWorkflow:
    @workflow.run
    async def run(self) -> list[str]:
        names = ["user1", "user2", "user3", "user4", "user5"]
        # Coroutines gathered, as the sample does...
        first = await asyncio.gather(
            *(
                workflow.execute_activity(say_hello_activity, n, start_to_close_timeout=timedelta(seconds=10))
                for n in names[:3]
            )
        )
        # ...and activity handles (tasks) awaited with asyncio.wait.
        handles = [
            workflow.start_activity(say_hello_activity, n, start_to_close_timeout=timedelta(seconds=10))
            for n in names[3:]
        ]
        await asyncio.wait(handles)
        return [*first, *(h.result() for h in handles)]


async def run(client: Client, *, workflow_id: str = "hello-parallel-activity-workflow-id") -> list[str]:
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[SayHelloWorkflow], activities=[say_hello_activity]
    ):
        return await client.execute_workflow(SayHelloWorkflow.run, id=workflow_id, task_queue=TASK_QUEUE)


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
