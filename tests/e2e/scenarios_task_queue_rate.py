"""`Worker(max_task_queue_activities_per_second=...)`: matching's dispatch limit for a whole task
queue (temporalio's option; docs/task-queue-rates.md), as scenarios run on the embedded server
and on the real stack (tests/e2e/test_task_queue_rate.py). Each scenario starts its own workers
on the task queue it is given (and one beside it)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from tidal import activity, workflow
from tidal.client import Client
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import H_DL_QUEUE, H_DL_REASON

from tests.support.stack import wait_for

__all__ = ["hostile_rate_declarations", "task_queue_rate_paces_dispatch"]

STARTS: dict[str, list[float]] = {}


@activity.defn(name="task_queue_rate_note_start")
async def note_start(key: str) -> None:
    STARTS.setdefault(key, []).append(time.monotonic())


@workflow.defn(name="TaskQueueRateBurst")
class RateBurst:
    @workflow.run
    async def run(self, key: str, n: int) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(note_start, key, start_to_close_timeout=timedelta(seconds=60))
                for _ in range(n)
            )
        )


@workflow.defn(name="TaskQueueRateSleepThenBurst")
class SleepThenBurst:
    @workflow.run
    async def run(self, key: str, n: int) -> None:
        await workflow.sleep(timedelta(hours=1))
        await RateBurst().run(key, n)


async def task_queue_rate_paces_dispatch(client: Client, task_queue: str) -> None:
    """A worker with max_task_queue_activities_per_second=2 (and workflows: its own workflow
    tasks schedule the activities, which eager execution would hand it straight back, around
    matching): 10 activities scheduled together start over at least ~4 s (Temporal's burst,
    ceil(rate) = 2 at once, then one every 0.5 s). A task queue without a limit, in the same run,
    starts its 10 at once. While the limited ones wait, describe task queue counts them in the
    activity backlog."""
    limited_key, free_key = (f"tq-rate-{uuid.uuid4().hex[:8]}-{k}" for k in ("limited", "free"))
    free_queue = f"{task_queue}-free"
    async with (
        Worker(
            client,
            task_queue=task_queue,
            workflows=[RateBurst],
            activities=[note_start],
            max_task_queue_activities_per_second=2,
        ),
        Worker(client, task_queue=free_queue, workflows=[RateBurst], activities=[note_start]),
    ):
        handles = await asyncio.gather(
            client.start_workflow(
                RateBurst.run, args=[limited_key, 10], id=limited_key, task_queue=task_queue
            ),
            client.start_workflow(RateBurst.run, args=[free_key, 10], id=free_key, task_queue=free_queue),
        )
        # Held tasks are the task queue's backlog too (describe task queue, the CLI, the UI).
        path = (
            f"/api/v1/namespaces/{quote(client.namespace, safe='')}/task-queues/{quote(task_queue, safe='')}"
        )
        seen: list[int] = []

        async def held_backlog_shows() -> bool:
            seen.append((await client._call("GET", path))["activity"]["backlog"])
            return seen[-1] >= 3

        await wait_for(held_backlog_shows, timeout=30, what="the held tasks in the activity backlog")
        await asyncio.gather(*(h.result() for h in handles))
    limited, free = sorted(STARTS[limited_key]), sorted(STARTS[free_key])
    assert len(limited) == 10 and len(free) == 10, (limited, free)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(limited)]
    # 4.0 s by the bucket; an activity body that starts late (a loaded box) shortens the span.
    assert limited[-1] - limited[0] >= 3.5, gaps
    assert free[-1] - free[0] < 2.0, [round(b - a, 3) for a, b in itertools.pairwise(free)]


Publish = Callable[[bytes], Awaitable[None]]
"""Publish a raw body to the matching exchange with the rate declarations' routing key."""
DeadLetters = Callable[[], Awaitable[list[tuple[bytes, Mapping[str, Any]]]]]
"""Everything in the dead-letter queue so far: (body, headers)."""


async def hostile_rate_declarations(
    client: Client, task_queue: str, publish: Publish, dead_letters: DeadLetters
) -> None:
    """Declarations a buggy or hostile publisher could send are dead-lettered with a reason
    (matching goes on), and none of them limits the task queue."""
    tag = uuid.uuid4().hex[:8]
    hostile = [
        b"{not json " + tag.encode(),
        b'{"task_queue": "' + tag.encode() + b'", "activities_per_second": 0}',
        b'{"task_queue": "' + tag.encode() + b'", "activities_per_second": -5}',
        b'{"task_queue": "' + tag.encode() + b'", "activities_per_second": "2"}',
        b'{"task_queue": "' + tag.encode() + b'", "activities_per_second": 1e999}',
        b'{"task_queue": "' + tag.encode() + b'\\u0000", "activities_per_second": 1}',
        b'{"task_queue": "'
        + tag.encode()
        + b'", "activities_per_second": 1, "identity": "'
        + b"x" * 200_000
        + b'"}',
    ]
    for body in hostile:
        await publish(body)
    mine: list[tuple[bytes, Mapping[str, Any]]] = []

    async def all_dead() -> bool:
        mine[:] = [
            (b, h)
            for b, h in await dead_letters()
            if tag.encode() in b and str(h.get(H_DL_QUEUE, "")).startswith("tidal.matching.rates.")
        ]
        return len(mine) >= len(hostile)

    await wait_for(all_dead, timeout=30, what="every hostile declaration in the dead-letter queue")
    reasons = [str(h[H_DL_REASON]) for _, h in mine]
    assert all(r.startswith("invalid task queue rate declaration") for r in reasons), reasons
    # Matching still serves the queue, unlimited: ten activities start at once.
    key = f"tq-rate-{tag}-after"
    async with Worker(client, task_queue=task_queue, workflows=[RateBurst], activities=[note_start]):
        await client.execute_workflow(RateBurst.run, args=[key, 10], id=key, task_queue=task_queue)
    starts = sorted(STARTS[key])
    assert starts[-1] - starts[0] < 2.0, starts
    assert names.MATCHING_RATES_ROUTING_KEY == "rates"
