"""Cron workflows: a workflow started with `cron_schedule` runs again at each cron time; each run
sees the previous run's result. The sample lets the chain run three times, then terminates it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client, WorkflowExecutionStatus
from tidal.worker import Worker

TASK_QUEUE = "hello-cron-task-queue"


@activity.defn
async def compose_greeting(name: str, run: int) -> str:
    return f"Hello, {name}! (run {run})"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        previous = workflow.get_last_completion_result(str) if workflow.has_last_completion_result() else None
        run = 1 if previous is None else int(previous.rsplit("run ", 1)[1].rstrip(")")) + 1
        return await workflow.execute_activity(
            compose_greeting, args=[name, run], start_to_close_timeout=timedelta(seconds=10)
        )


async def _completed_runs(client: Client, workflow_id: str) -> list[str]:
    runs = [
        w
        async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")
        if w.status == WorkflowExecutionStatus.COMPLETED
    ]
    greetings = [
        await client.get_workflow_handle(workflow_id, run_id=w.run_id).result(follow_runs=False) for w in runs
    ]
    return sorted(greetings, key=lambda greeting: int(greeting.rsplit("run ", 1)[1].rstrip(")")))


async def run(client: Client, *, workflow_id: str = "hello-cron-workflow-id") -> list[str]:
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow], activities=[compose_greeting]
    ):
        await client.start_workflow(
            GreetingWorkflow.run,
            "World",
            id=workflow_id,
            task_queue=TASK_QUEUE,
            # Temporal's cron syntax; "@every 1s" keeps the sample short ("0 * * * *": hourly).
            cron_schedule="@every 1s",
        )
        completed: list[str] = []
        while len(completed) < 3:
            await asyncio.sleep(0.5)  # a person watching the chain; the tests bound the whole run
            completed = await _completed_runs(client, workflow_id)
        # The chain's latest run (a handle without run id): the first run closed long ago.
        await client.get_workflow_handle(workflow_id).terminate("the sample has seen enough runs")
        return completed[:3]


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
