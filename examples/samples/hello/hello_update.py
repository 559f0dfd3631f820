"""Updates: a handler that changes the workflow's state and returns a value, a validator that
rejects bad input before anything is recorded, and `workflow.all_handlers_finished`."""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from tidal.worker import Worker

TASK_QUEUE = "hello-update-task-queue"


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self.greeting = "Hello"
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done and workflow.all_handlers_finished())
        return f"{self.greeting}, World!"

    @workflow.update
    def update_greeting(self, greeting: str) -> str:
        previous, self.greeting = self.greeting, greeting
        return previous

    @update_greeting.validator
    def validate_greeting(self, greeting: str) -> None:
        if not greeting:
            raise ValueError("the greeting must not be empty")

    @workflow.update
    async def finish(self) -> None:
        self.done = True


async def run(client: Client, *, workflow_id: str = "hello-update-workflow-id") -> list[str]:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(GreetingWorkflow.run, id=workflow_id, task_queue=TASK_QUEUE)
        previous = await handle.execute_update(GreetingWorkflow.update_greeting, "Bonjour")
        try:
            await handle.execute_update(GreetingWorkflow.update_greeting, "")
            rejected = "accepted?!"
        except WorkflowUpdateFailedError as err:
            rejected = f"rejected: {err.cause}"
        update = await handle.start_update(
            GreetingWorkflow.finish, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await update.result()
        return [f"previous: {previous}", rejected, await handle.result()]


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
