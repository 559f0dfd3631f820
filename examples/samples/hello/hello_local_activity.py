"""A local activity: run by the worker that runs the workflow, recorded as a marker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-local-activity-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    return f"{input.greeting}, {input.name}! (local: {activity.info().is_local})"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_local_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
        )


async def run(client: Client, *, workflow_id: str = "hello-local-activity-workflow-id") -> str:
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow], activities=[compose_greeting]
    ):
        return await client.execute_workflow(
            GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
        )


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
