"""Saga: book three things; when the last fails, undo the others newest first.

uv run python examples/concepts/saga.py
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.exceptions import ApplicationError, WorkflowFailureError
from tidal.saga import Saga
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

T = timedelta(seconds=10)


@activity.defn
async def book(what: str) -> str:
    if what == "car":
        raise ApplicationError("no cars left", non_retryable=True)
    print(f"  booked {what}")
    return what


@activity.defn
async def cancel(what: str) -> None:
    print(f"  cancelled {what}")


@workflow.defn
class BookTrip:
    @workflow.run
    async def run(self) -> str:
        async with Saga() as saga:
            for what in ("hotel", "flight", "car"):
                await workflow.execute_activity(book, what, start_to_close_timeout=T)
                saga.add_compensation(workflow.execute_activity, cancel, what, start_to_close_timeout=T)
        return "trip booked"


async def main() -> None:
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="trips", workflows=[BookTrip], activities=[book, cancel]):
            try:
                await env.client.execute_workflow(BookTrip.run, id="trip-1", task_queue="trips")
            except WorkflowFailureError as e:
                print(f"trip failed: {e.cause}")


if __name__ == "__main__":
    asyncio.run(main())
