"""Replay: save a finished run's history, then check a code change against it before deploying.

uv run python examples/concepts/replay.py
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from tidal import activity, workflow
from tidal.client import WorkflowHistory
from tidal.exceptions import NondeterminismError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Replayer, Worker

T = timedelta(seconds=10)


@activity.defn
async def charge(order: str) -> str:
    return f"charged {order}"


@activity.defn
async def notify(order: str) -> None:
    return None


@workflow.defn(name="Order")
class Order:
    @workflow.run
    async def run(self, order: str) -> str:
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


@workflow.defn(name="Order")
class OrderUnsafeChange:
    """Adds a step in front of the recorded one: old runs would break on replay."""

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.execute_activity(notify, order, start_to_close_timeout=T)
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


@workflow.defn(name="Order")
class OrderSafeChange:
    """The same step behind a patch: old runs replay as before, new runs take the new path."""

    @workflow.run
    async def run(self, order: str) -> str:
        if workflow.patched("notify-first"):
            await workflow.execute_activity(notify, order, start_to_close_timeout=T)
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


async def main() -> None:
    saved = Path(tempfile.mkdtemp()) / "order-1.json"
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="orders", workflows=[Order], activities=[charge]):
            handle = await env.client.start_workflow(Order.run, "o-1", id="order-1", task_queue="orders")
            await handle.result()
            saved.write_text((await handle.fetch_history()).to_json())

    history = WorkflowHistory.from_json("order-1", saved.read_text())
    await Replayer(workflows=[OrderSafeChange]).replay_workflow(history)
    print("patched change: replays cleanly")
    try:
        await Replayer(workflows=[OrderUnsafeChange]).replay_workflow(history)
    except NondeterminismError as e:
        print(f"unsafe change: {e}")


if __name__ == "__main__":
    asyncio.run(main())
