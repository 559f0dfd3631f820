"""Time skipping: a workflow that waits 30 days for a payment finishes in a blink under test.

uv run python examples/concepts/time_skipping.py
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from tidal import workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker


@workflow.defn
class Invoice:
    def __init__(self) -> None:
        self.paid = False

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: self.paid, timeout=timedelta(days=30))
        except TimeoutError:
            return "sent to collections"
        return "paid"

    @workflow.signal
    def pay(self) -> None:
        self.paid = True


async def main() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(env.client, task_queue="billing", workflows=[Invoice]):
            started = time.monotonic()
            paid = await env.client.start_workflow(Invoice.run, id="invoice-1", task_queue="billing")
            unpaid = await env.client.start_workflow(Invoice.run, id="invoice-2", task_queue="billing")
            await env.sleep(timedelta(days=10))  # time moves only as far as asked
            await paid.signal(Invoice.pay)
            print("invoice-1:", await paid.result())
            print("invoice-2:", await unpaid.result())  # waiting on a result skips the other 20 days
            print(
                f"server time moved to {await env.get_current_time():%Y-%m-%d} "
                f"in {time.monotonic() - started:.1f} s of real time"
            )


if __name__ == "__main__":
    asyncio.run(main())
