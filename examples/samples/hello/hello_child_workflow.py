"""A parent workflow that runs a child workflow and returns its result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tidal import workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-child-workflow-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@workflow.defn
class ComposeGreetingWorkflow:
    @workflow.run
    async def run(self, input: ComposeGreetingInput) -> str:
        return f"{input.greeting}, {input.name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_child_workflow(
            ComposeGreetingWorkflow.run,
            ComposeGreetingInput("Hello", name),
            id=f"{workflow.info().workflow_id}-child",
        )


async def run(client: Client, *, workflow_id: str = "hello-child-workflow-workflow-id") -> str:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow, ComposeGreetingWorkflow]):
        return await client.execute_workflow(
            GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
        )


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
