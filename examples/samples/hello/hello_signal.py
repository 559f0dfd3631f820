"""Signals: a workflow collects names from a signal into a queue until an exit signal, then
returns the greetings."""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.client import Client
from tidal.worker import Worker

TASK_QUEUE = "hello-signal-task-queue"


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._exit = False

    @workflow.run
    async def run(self) -> list[str]:
        greetings: list[str] = []
        while True:
            await workflow.wait_condition(lambda: not self._pending.empty() or self._exit)
            while not self._pending.empty():
                greetings.append(f"Hello, {self._pending.get_nowait()}")
            if self._exit:
                return greetings

    @workflow.signal
    async def submit_greeting(self, name: str) -> None:
        await self._pending.put(name)

    @workflow.signal
    def exit(self) -> None:
        self._exit = True


async def run(client: Client, *, workflow_id: str = "hello-signal-workflow-id") -> list[str]:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(GreetingWorkflow.run, id=workflow_id, task_queue=TASK_QUEUE)
        for name in ("user1", "user2", "user3"):
            await handle.signal(GreetingWorkflow.submit_greeting, name)
        await handle.signal(GreetingWorkflow.exit)
        return await handle.result()


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
