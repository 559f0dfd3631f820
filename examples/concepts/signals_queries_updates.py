"""Signals, queries and updates on a shopping cart.

uv run python examples/concepts/signals_queries_updates.py
"""

from __future__ import annotations

import asyncio

from tidal import workflow
from tidal.client import WorkflowUpdateFailedError
from tidal.exceptions import ApplicationError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.checked_out = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.checked_out)
        return self.items

    @workflow.signal
    def checkout(self) -> None:  # fire and forget
        self.checked_out = True

    @workflow.query
    def contents(self) -> list[str]:  # read-only, never recorded
        return list(self.items)

    @workflow.update
    async def add(self, item: str) -> int:  # recorded; the caller gets the result
        self.items.append(item)
        return len(self.items)

    @add.validator
    def _validate_add(self, item: str) -> None:  # raising rejects: no trace in history
        if not item:
            raise ApplicationError("an item needs a name")


async def main() -> None:
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="carts", workflows=[Cart]):
            cart = await env.client.start_workflow(Cart.run, id="cart-1", task_queue="carts")
            print("added, cart size:", await cart.execute_update(Cart.add, "apple"))
            print("added, cart size:", await cart.execute_update(Cart.add, "pear"))
            try:
                await cart.execute_update(Cart.add, "")
            except WorkflowUpdateFailedError as e:
                print("rejected:", e.cause)
            print("query:", await cart.query(Cart.contents))
            await cart.signal(Cart.checkout)
            print("result:", await cart.result())


if __name__ == "__main__":
    asyncio.run(main())
