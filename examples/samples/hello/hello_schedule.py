"""Schedules: a schedule starts a workflow at each interval (here every hour); triggering it runs
the action at once. The sample creates one, triggers it, reads the run it started, and deletes
it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import workflow
from tidal.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from tidal.exceptions import RPCError
from tidal.worker import Worker

TASK_QUEUE = "hello-schedule-task-queue"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


async def run(client: Client, *, workflow_id: str = "hello-schedule-workflow-id") -> list[str]:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow]):
        handle = await client.create_schedule(
            f"{workflow_id}-schedule",
            Schedule(
                action=ScheduleActionStartWorkflow(
                    GreetingWorkflow.run, "schedules", id=workflow_id, task_queue=TASK_QUEUE
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            ),
        )
        await handle.trigger()
        description = await handle.describe()
        for _ in range(150):  # the schedule's shard takes the trigger within moments
            if description.info.recent_actions:
                break
            await asyncio.sleep(0.2)
            description = await handle.describe()
        action = description.info.recent_actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        started = client.get_workflow_handle(action.workflow_id, run_id=action.first_execution_run_id)
        # Tidal records the action when the schedule takes it; the run's own shard may take a
        # moment longer to write its start (docs/coming-from-temporal.md).
        for _ in range(150):
            try:
                await started.describe()
                break
            except RPCError as err:
                if err.status != "not_found":
                    raise
                await asyncio.sleep(0.2)
        greeting = await started.result()
        await handle.delete()
        ids = [s.id async for s in await client.list_schedules()]
        return [greeting, f"schedule deleted: {handle.id not in ids}"]


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
