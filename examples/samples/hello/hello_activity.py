"""One activity called from a workflow, with a dataclass argument and a sync activity run on a
thread pool (as temporalio requires for non-async activities)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-activity-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
def compose_greeting(input: ComposeGreetingInput) -> str:
    activity.logger.info("Running activity with parameter %s", input)
    return f"{input.greeting}, {input.name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("Running workflow with parameter %s", name)
        return await workflow.execute_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
        )


async def run(client: Client, *, workflow_id: str = "hello-activity-workflow-id") -> str:
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[GreetingWorkflow],
            activities=[compose_greeting],
            activity_executor=executor,
        ):
            return await client.execute_workflow(
                GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
            )


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
