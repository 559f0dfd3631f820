"""An activity that fails its first three attempts and succeeds on the fourth, retried by the
activity's RetryPolicy (short intervals so the sample is quick)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.worker import Worker

TASK_QUEUE = "hello-activity-retry-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    attempt = activity.info().attempt
    activity.logger.info("compose_greeting attempt %d", attempt)
    if attempt < 4:
        raise RuntimeError(f"intentional failure on attempt {attempt}")
    return f"{input.greeting}, {input.name}! (attempt {attempt})"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=50),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(milliseconds=200),
            ),
        )


async def run(client: Client, *, workflow_id: str = "hello-activity-retry-workflow-id") -> str:
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
