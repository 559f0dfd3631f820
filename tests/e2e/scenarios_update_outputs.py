"""Update handlers whose task records more than the update's outcome: a local activity's marker,
a patch marker. The task's WorkflowExecutionUpdateAccepted/Completed events sit among those
markers; the next task (cached instance) and a replay from scratch (no cache) must both match
them. Both failed before: the cached instance expected an event for the update's completion
message, and the replay stopped looking for the task's markers at the UpdateAccepted event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client, WorkflowHandle
from tidal.worker import Worker

__all__ = [
    "local_activity_in_an_update_cached",
    "local_activity_in_an_update_replayed",
    "patch_in_an_update_replayed",
]


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
class UpdateOutputs:
    def __init__(self) -> None:
        self.done = False
        self.values: list[int] = []

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: self.done)
        return self.values

    @workflow.update
    async def add(self, x: int) -> int:
        v = await workflow.execute_local_activity(double, x, start_to_close_timeout=timedelta(seconds=10))
        self.values.append(v)
        return v

    @workflow.update
    def mark(self, x: int) -> int:
        v = x + 100 if workflow.patched("mark-v2") else x
        self.values.append(v)
        return v

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def _no_failed_tasks(handle: WorkflowHandle[UpdateOutputs, list[int]]) -> None:
    failed = [e async for e in handle.fetch_history_events() if e.event_type == "WorkflowTaskFailed"]
    assert not failed, failed


async def _run(client: Client, task_queue: str, *, cache: int, update: str) -> None:
    queue = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[UpdateOutputs],
        activities=[double],
        max_cached_workflows=cache,
    ):
        h = await client.start_workflow(UpdateOutputs.run, id=f"upd-out-{uuid.uuid4()}", task_queue=queue)
        first = await asyncio.wait_for(h.execute_update(update, 3), 30)
        # The next tasks apply the first one's events: on the cached instance, or by replay.
        second = await asyncio.wait_for(h.execute_update(update, 4), 30)
        await h.signal(UpdateOutputs.finish)
        assert await asyncio.wait_for(h.result(), 30) == [first, second]
        await _no_failed_tasks(h)
    if update == "add":
        assert (first, second) == (6, 8)
    else:
        assert (first, second) == (103, 104)


async def local_activity_in_an_update_cached(client: Client, task_queue: str) -> None:
    await _run(client, task_queue, cache=100, update="add")


async def local_activity_in_an_update_replayed(client: Client, task_queue: str) -> None:
    await _run(client, task_queue, cache=0, update="add")


async def patch_in_an_update_replayed(client: Client, task_queue: str) -> None:
    await _run(client, task_queue, cache=0, update="mark")
