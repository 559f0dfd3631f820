"""A workflow that continues as new with its next iteration until the fifth, which returns."""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-continue-as-new-task-queue"


@workflow.defn
class LoopingWorkflow:
    @workflow.run
    async def run(self, iteration: int) -> str:
        info = workflow.info()
        if iteration == 5:
            continued = info.continued_run_id is not None and info.run_id != info.first_execution_run_id
            return f"iteration {iteration}, continued from an earlier run: {continued}"
        workflow.logger.info("Running workflow iteration %d", iteration)
        await asyncio.sleep(0.01)  # a durable timer, as in temporalio
        workflow.continue_as_new(iteration + 1)


async def run(client: Client, *, workflow_id: str = "hello-continue-as-new-workflow-id") -> str:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[LoopingWorkflow]):
        return await client.execute_workflow(LoopingWorkflow.run, 0, id=workflow_id, task_queue=TASK_QUEUE)


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(f"Result: {await run(client)}")


if __name__ == "__main__":
    asyncio.run(main())
