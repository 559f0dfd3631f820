"""A workflow retry policy, and what happens when a workflow id is already in use.

uv run python examples/concepts/workflow_policies.py
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import workflow
from tidal.common import RetryPolicy, WorkflowIDConflictPolicy
from tidal.exceptions import ApplicationError, WorkflowAlreadyStartedError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker


@workflow.defn
class Nightly:
    @workflow.run
    async def run(self) -> str:
        attempt = workflow.info().attempt
        if attempt < 3:
            raise ApplicationError(f"upstream not ready (attempt {attempt})")
        return f"report built on attempt {attempt}"


@workflow.defn
class Session:
    @workflow.run
    async def run(self, user: str) -> None:
        await workflow.wait_condition(lambda: False)


async def main() -> None:
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="jobs", workflows=[Nightly, Session]):
            retry = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
            print(
                await env.client.execute_workflow(
                    Nightly.run, id="nightly", task_queue="jobs", retry_policy=retry
                )
            )

            first = await env.client.start_workflow(Session.run, "ada", id="session-ada", task_queue="jobs")
            try:
                await env.client.start_workflow(Session.run, "ada", id="session-ada", task_queue="jobs")
            except WorkflowAlreadyStartedError:
                print("second start refused: already running")
            newer = await env.client.start_workflow(
                Session.run,
                "ada",
                id="session-ada",
                task_queue="jobs",
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
            )
            old = await env.client.get_workflow_handle("session-ada", run_id=first.run_id).describe()
            print(f"old run {old.status.value}; new run {newer.run_id[:8]} running")
            await newer.terminate("example over")


if __name__ == "__main__":
    asyncio.run(main())
