"""An activity that returns without a result (`activity.raise_complete_async()`) and is completed
later, from outside the worker, through its task token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-async-activity-completion-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


class GreetingComposer:
    """Holds the client: the activity hands its task token to a background task that completes
    it (in a real system, another process or a human)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._background: set[asyncio.Task[None]] = set()

    @activity.defn
    async def compose_greeting(self, input: ComposeGreetingInput) -> str:
        task = asyncio.create_task(self.complete_greeting(activity.info().task_token, input))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        activity.raise_complete_async()

    async def complete_greeting(self, task_token: bytes, input: ComposeGreetingInput) -> None:
        handle = self.client.get_async_activity_handle(task_token=task_token)
        await handle.heartbeat("working on it")
        await handle.complete(f"{input.greeting}, {input.name}!")


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            GreetingComposer.compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=timedelta(seconds=10),
        )


async def run(client: Client, *, workflow_id: str = "hello-async-activity-completion-workflow-id") -> str:
    composer = GreetingComposer(client)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[GreetingWorkflow],
        activities=[composer.compose_greeting],
    ):
        return await client.execute_workflow(
            GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
        )


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
