"""Task priority (temporalio's `common.Priority`): a task queue's backlog goes to workers by
priority key, 1 first, default 3 (docs/task-priority.md). Each scenario fills a queue while no
worker serves it, then starts a worker with one slot and checks the order it ran the tasks in;
shared by the embedded and the real-stack tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import quote

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import Priority
from tidal.worker import Worker

from tests.support.stack import wait_for

__all__ = [
    "ACTIVITIES",
    "WORKFLOWS",
    "activity_backlog_by_priority",
    "child_inherits_priority",
    "child_priority_overrides_the_parents",
    "workflow_backlog_by_priority",
]

# 30 activities: keys 1..5 and unset (the default, 3), mixed.
KEYS: list[int | None] = [(5, 1, None, 3, 2, 4)[i % 6] for i in range(30)]
_RAN: dict[str, list[int]] = {}  # order tag -> the activity indexes in the order they ran
_STARTED: dict[str, list[str]] = {}  # order tag -> workflow ids in the order their code first ran


@activity.defn(name="priority_order_run")
async def run_in_order(tag: str, index: int) -> int:
    _RAN.setdefault(tag, []).append(index)
    return index


@workflow.defn
class PriorityFanOut:
    @workflow.run
    async def run(self, tag: str, task_queue: str, keys: list[int | None]) -> list[int]:
        calls = [
            workflow.execute_activity(
                run_in_order,
                args=[tag, i],
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                priority=Priority(priority_key=k) if k is not None else Priority.default,
            )
            for i, k in enumerate(keys)
        ]
        return list(await asyncio.gather(*calls))


@workflow.defn
class PriorityReport:
    @workflow.run
    async def run(self, tag: str = "") -> int | None:
        if tag and not workflow.unsafe.is_replaying():
            # Test instrumentation only: the order the worker ran first tasks in.
            _STARTED.setdefault(tag, []).append(workflow.info().workflow_id)
        return workflow.info().priority.priority_key


@workflow.defn
class PriorityParent:
    @workflow.run
    async def run(self, child_key: int | None = None) -> int | None:
        if child_key is None:
            return await workflow.execute_child_workflow(
                PriorityReport.run, id=f"{workflow.info().workflow_id}-kid"
            )
        config: workflow.ChildWorkflowConfig = {"priority": Priority(priority_key=child_key)}
        return await workflow.execute_child_workflow(
            PriorityReport.run, id=f"{workflow.info().workflow_id}-kid", **config
        )


WORKFLOWS = [PriorityFanOut, PriorityReport, PriorityParent]
ACTIVITIES = [run_in_order]


def _queue(what: str) -> str:
    return f"priority-{what}-{uuid.uuid4().hex[:8]}"


async def _backlog(client: Client, task_queue: str, kind: str) -> int:
    path = f"/api/v1/namespaces/{quote(client.namespace, safe='')}/task-queues/{quote(task_queue, safe='')}"
    data = await client._call("GET", path)
    return int(data[kind]["backlog"])


def _by_key(order: list[int], keys: list[int | None]) -> list[int]:
    return [keys[i] or 3 for i in order]


async def activity_backlog_by_priority(client: Client, task_queue: str) -> None:
    del task_queue
    workflows, activities, tag = _queue("wf"), _queue("act"), uuid.uuid4().hex
    async with Worker(client, task_queue=workflows, workflows=WORKFLOWS):
        handle = await client.start_workflow(
            PriorityFanOut.run, args=[tag, activities, KEYS], id=f"priority-{tag}", task_queue=workflows
        )

        async def all_queued() -> bool:
            return await _backlog(client, activities, "activity") == len(KEYS)

        await wait_for(all_queued, timeout=30, what=f"{len(KEYS)} activities queued")
        async with Worker(client, task_queue=activities, activities=ACTIVITIES, max_concurrent_activities=1):
            assert await handle.result() == list(range(len(KEYS)))
    ran = _RAN.pop(tag)
    # Keys in order (1 first, unset as 3). Equal keys go in the order matching queued them, which
    # need not be the order they were scheduled in: matching handles deliveries concurrently.
    assert _by_key(ran, KEYS) == sorted(k or 3 for k in KEYS), _by_key(ran, KEYS)


async def workflow_backlog_by_priority(client: Client, task_queue: str) -> None:
    del task_queue
    queue, tag = _queue("wft"), uuid.uuid4().hex
    keys: list[int | None] = [4, None, 1, 5, 2, 3, 1, 5]
    ids = [f"priority-wft-{tag[:8]}-{i}" for i in range(len(keys))]
    handles = [
        await client.start_workflow(
            PriorityReport.run,
            tag,
            id=wid,
            task_queue=queue,
            priority=Priority(priority_key=k) if k is not None else Priority.default,
        )
        for wid, k in zip(ids, keys, strict=True)
    ]

    async def all_queued() -> bool:
        return await _backlog(client, queue, "workflow") == len(keys)

    await wait_for(all_queued, timeout=30, what=f"{len(keys)} workflow tasks queued")
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, max_concurrent_workflow_tasks=1):
        results = [await h.result() for h in handles]
    assert results == keys
    order = [ids.index(wid) for wid in _STARTED.pop(tag)]
    assert _by_key(order, keys) == sorted(k or 3 for k in keys), [keys[i] for i in order]


async def child_inherits_priority(client: Client, task_queue: str) -> None:
    """A child started without a priority gets its parent's (as in Temporal)."""
    wid = f"priority-parent-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        PriorityParent.run, id=wid, task_queue=task_queue, priority=Priority(priority_key=1)
    )
    assert await handle.result() == 1  # the child's workflow.info().priority


async def child_priority_overrides_the_parents(client: Client, task_queue: str) -> None:
    """`start_child_workflow(priority=)` / `ChildWorkflowConfig.priority`: the child runs with the
    key it was given, not its parent's."""
    wid = f"priority-parent-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        PriorityParent.run, 4, id=wid, task_queue=task_queue, priority=Priority(priority_key=1)
    )
    assert await handle.result() == 4
