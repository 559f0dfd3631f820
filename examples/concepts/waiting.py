"""Waiting on several things at once, deterministically: gather, wait, as_completed, conditions.

uv run python examples/concepts/waiting.py
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

T = timedelta(seconds=10)


@activity.defn
async def quote(supplier: str) -> tuple[str, int]:
    await asyncio.sleep({"acme": 1.3, "globex": 0.1, "initech": 0.7}[supplier])
    return supplier, {"acme": 120, "globex": 95, "initech": 99}[supplier]


@workflow.defn
class BestQuote:
    @workflow.run
    async def run(self) -> list[str]:
        suppliers = ["acme", "globex", "initech"]
        log = []
        # As they arrive (ties broken by the order given; replay sees the same order).
        for next_quote in workflow.as_completed(
            [workflow.execute_activity(quote, s, start_to_close_timeout=T) for s in suppliers]
        ):
            name, price = await next_quote
            log.append(f"{name}: {price}")
        # The first of an activity and a durable timer.
        done, pending = await workflow.wait(
            [workflow.execute_activity(quote, "acme", start_to_close_timeout=T), asyncio.sleep(60)],
            return_when=workflow.FIRST_COMPLETED,
        )
        for p in pending:
            p.cancel()
        log.append(f"first done: {len(done)}, still pending (cancelled): {len(pending)}")
        # All of them.
        prices = await asyncio.gather(
            *(workflow.execute_activity(quote, s, start_to_close_timeout=T) for s in suppliers)
        )
        log.append(f"cheapest: {min(prices, key=lambda q: q[1])[0]}")
        return log


async def main() -> None:
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="quotes", workflows=[BestQuote], activities=[quote]):
            for line in await env.client.execute_workflow(BestQuote.run, id="quote-1", task_queue="quotes"):
                print(line)


if __name__ == "__main__":
    asyncio.run(main())
