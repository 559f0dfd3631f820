"""Durability scenarios (issue 9): inputs acknowledged while a workflow task is outstanding reach
the workflow code even when that task closes the run or continues as new. Run embedded and on the
real stack (test_buffered_events.py)."""

from __future__ import annotations

import asyncio
import uuid

from tidal import workflow
from tidal.client import Client

TASK_QUEUE = "e2e-durability"


@workflow.defn
class CountingEntity:
    """An entity workflow that continues as new every 3 signals, carrying the signal values it has
    seen, and returns them all once it has seen `target`."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.signal
    def add(self, n: int) -> None:
        self.seen.append(n)

    @workflow.query
    def count(self) -> int:
        return len(self.seen)

    @workflow.run
    async def run(self, carried: list[int], target: int) -> list[int]:
        await workflow.wait_condition(lambda: len(self.seen) >= 3 or len(carried) + len(self.seen) >= target)
        total = carried + self.seen
        if len(total) >= target:
            return sorted(total)
        workflow.continue_as_new(args=[total, target])


WORKFLOWS = [CountingEntity]


async def continue_as_new_entity_sees_every_signal(
    client: Client, task_queue: str, *, signals: int = 60
) -> None:
    """`signals` signals sent concurrently to an entity that continues as new every 3: every one is
    seen exactly once (before the fix 45 of 60 arrived: the rest were acked, then dropped when the
    run continued as new)."""
    wid = f"entity-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        CountingEntity.run, args=[[], signals], id=wid, task_queue=task_queue
    )
    by_id = client.get_workflow_handle(wid)  # no run id: each signal goes to the current run
    await asyncio.gather(*(by_id.signal(CountingEntity.add, i) for i in range(signals)))
    try:
        result = await asyncio.wait_for(handle.result(), timeout=90)
    except TimeoutError:
        latest = await client.get_workflow_handle(wid).describe()
        raise AssertionError(
            f"the entity never saw all {signals} signals (latest run {latest.run_id} {latest.status})"
        ) from None
    assert result == list(range(signals)), f"seen {len(result)}: {result}"
