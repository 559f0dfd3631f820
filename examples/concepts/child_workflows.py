"""Child workflows and continue-as-new: a parent fans out to children; a long-lived counter
starts a fresh history every few steps.

    uv run python examples/concepts/child_workflows.py
"""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker


@workflow.defn
class Square:
    @workflow.run
    async def run(self, n: int) -> int:
        return n * n


@workflow.defn
class SumOfSquares:
    @workflow.run
    async def run(self, upto: int) -> int:
        children = [
            workflow.execute_child_workflow(Square.run, n, id=f"{workflow.info().workflow_id}-{n}")
            for n in range(1, upto + 1)
        ]
        return sum(await asyncio.gather(*children))


@workflow.defn
class Counter:
    @workflow.run
    async def run(self, count: int, target: int) -> str:
        while count < target:
            count += 1  # real work would go here: each step adds events to the history
            if count % 3 == 0 and count < target:
                workflow.continue_as_new(args=[count, target])  # a new run, a fresh history
        return f"counted to {count} (run {workflow.info().run_id[:8]})"


async def main() -> None:
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="math", workflows=[Square, SumOfSquares, Counter]):
            total = await env.client.execute_workflow(SumOfSquares.run, 4, id="sum-1", task_queue="math")
            print("sum of squares 1..4 =", total)
            handle = await env.client.start_workflow(
                Counter.run, args=[0, 10], id="counter-1", task_queue="math"
            )
            print(await handle.result())  # follows the chain of runs to the last one
            print("first run:", handle.run_id[:8])


if __name__ == "__main__":
    asyncio.run(main())
