"""Changing workflow code safely with `workflow.patched`: a run recorded by the old code replays
with the patched code (the patch reports False there), new runs take the new branch, and once no
old run is left `workflow.deprecate_patch` keeps only the new code."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Replayer, Worker

TASK_QUEUE = "hello-patch-task-queue"


@activity.defn
async def compose_greeting(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def compose_greeting_v2(name: str) -> str:
    return f"Bonjour, {name}!"


@workflow.defn(name="PatchWorkflow")
class MyWorkflowOriginal:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="PatchWorkflow")
class MyWorkflowPatched:
    @workflow.run
    async def run(self, name: str) -> str:
        if workflow.patched("my-patch"):
            return await workflow.execute_activity(
                compose_greeting_v2, name, start_to_close_timeout=timedelta(seconds=10)
            )
        return await workflow.execute_activity(
            compose_greeting, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="PatchWorkflow")
class MyWorkflowPatchDeprecated:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.deprecate_patch("my-patch")
        return await workflow.execute_activity(
            compose_greeting_v2, name, start_to_close_timeout=timedelta(seconds=10)
        )


async def run(client: Client, *, workflow_id: str = "hello-patch-workflow-id") -> list[str]:
    acts = [compose_greeting, compose_greeting_v2]
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[MyWorkflowOriginal], activities=acts):
        old = await client.start_workflow(
            MyWorkflowOriginal.run, "old", id=f"{workflow_id}-old", task_queue=TASK_QUEUE
        )
        out = [f"original: {await old.result()}"]
    old_history = await old.fetch_history()
    # A worker running the patched code must still replay the old run as it was recorded.
    await Replayer(workflows=[MyWorkflowPatched]).replay_workflow(old_history)
    out.append("original run replays with the patched code")
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[MyWorkflowPatched], activities=acts):
        new = await client.start_workflow(
            MyWorkflowPatched.run, "new", id=f"{workflow_id}-new", task_queue=TASK_QUEUE
        )
        out.append(f"patched: {await new.result()}")
    await Replayer(workflows=[MyWorkflowPatchDeprecated]).replay_workflow(await new.fetch_history())
    out.append("patched run replays with the patch deprecated")
    return out


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print("\n".join(await run(client)))


if __name__ == "__main__":
    asyncio.run(main())
