"""The sample workflow `make dev` runs: one activity, one durable timer."""

from __future__ import annotations

from datetime import timedelta

from tidal import activity, workflow


@activity.defn
async def compose_greeting(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(
            compose_greeting, name, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.sleep(0.5)  # a durable timer: survives restarts of every process
        return greeting
