"""Histories larger than a bus message (issue 9, defect 5), run with a small message limit so
they are quick to build: the run keeps going, its shard keeps serving other workflows, a worker
that lost its cache pages the older events, and the history limits terminate a run. Both modes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tidal import activity, workflow
from tidal._telemetry import HISTORY_FETCHES
from tidal.client import Client, WorkflowExecutionStatus
from tidal.worker import Worker
from tidal_schema import shard_for

from tests.support.stack import wait_for

# The test servers run with this bus limit (the smallest the setting allows).
SMALL_LIMIT = 64 * 1024
CHUNK = 2048
STEPS = 60  # ~60 results of 2 KiB: the whole history is about twice the limit


@activity.defn
async def blob(i: int) -> str:
    return f"{i:04d}" + "x" * (CHUNK - 4)


@activity.defn
async def small(name: str) -> str:
    return f"hi {name}"


@workflow.defn
class Chatty:
    def __init__(self) -> None:
        self.go = False
        self.done = 0

    @workflow.run
    async def run(self, steps: int) -> dict[str, int]:
        total = 0
        for i in range(steps):
            r = await workflow.execute_activity(blob, i, start_to_close_timeout=timedelta(seconds=30))
            assert r.startswith(f"{i:04d}"), r
            total += len(r)
            self.done = i + 1
            if i == steps // 2:
                await workflow.wait_condition(lambda: self.go)
        return {"steps": self.done, "bytes": total}

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.query
    def progress(self) -> int:
        return self.done


@workflow.defn
class Quick:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(small, name, start_to_close_timeout=timedelta(seconds=30))


WORKFLOWS = [Chatty, Quick]
ACTIVITIES = [blob, small]


def same_shard_ids(workflow_id: str, shard_count: int, n: int, namespace: str = "default") -> list[str]:
    shard = shard_for(namespace, workflow_id, shard_count)
    out: list[str] = []
    while len(out) < n:
        candidate = f"quick-{uuid.uuid4().hex[:10]}"
        if shard_for(namespace, candidate, shard_count) == shard:
            out.append(candidate)
    return out


async def large_history(client: Client, *, shard_count: int) -> None:
    tq = f"large-{uuid.uuid4().hex[:8]}"
    wid = f"chatty-{uuid.uuid4()}"
    worker = Worker(client, task_queue=tq, workflows=WORKFLOWS, activities=ACTIVITIES)
    await worker.start()
    try:
        handle = await client.start_workflow(Chatty.run, STEPS, id=wid, task_queue=tq)

        async def waiting_for_signal() -> bool:
            d = await handle.describe()
            return d.history_length > STEPS // 2 * 6 and d.raw.get("pending_activities") == []

        await wait_for(waiting_for_signal, timeout=120, what="the first half of the activities")
        # The shard that holds the large run still serves other workflows.
        for qid in same_shard_ids(wid, shard_count, 3):
            assert await client.execute_workflow(Quick.run, qid, id=qid, task_queue=tq) == f"hi {qid}"
        # A query carries only the newest events too (the cached worker answers it).
        assert await handle.query(Chatty.progress) == STEPS // 2 + 1
        # A new worker, without the run in its cache (the old one's sticky queue is gone): the
        # next task carries only part of the history and the worker pages the rest.
    finally:
        await worker.shutdown()
    async with Worker(client, task_queue=tq, workflows=WORKFLOWS, activities=ACTIVITIES):
        # This worker has nothing cached: it pages the older events to answer.
        assert await handle.query(Chatty.progress) == STEPS // 2 + 1
        await handle.signal(Chatty.proceed)
        assert await handle.result() == {"steps": STEPS, "bytes": STEPS * CHUNK}
        assert HISTORY_FETCHES.labels(tq)._value.get() >= 1  # the new worker paged
        events = (await handle.fetch_history()).events
        size = sum(len(e.model_dump_json()) for e in events)
        assert size > 2 * SMALL_LIMIT, size  # really larger than any one message may be
        assert not [e for e in events if e.event_type == "WorkflowTaskFailed"]
        d = await handle.describe()
        assert d.status is WorkflowExecutionStatus.COMPLETED


@workflow.defn
class Endless:
    @workflow.run
    async def run(self) -> None:
        i = 0
        while True:
            await workflow.execute_activity(small, str(i), start_to_close_timeout=timedelta(seconds=30))
            i += 1


async def count_limit_terminates(client: Client, *, limit: int) -> None:
    """The servers run with TIDAL_HISTORY_COUNT_LIMIT_ERROR=`limit`: the run is terminated with
    Temporal's reason once its history reaches it."""
    tq = f"endless-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=tq, workflows=[Endless], activities=[small]):
        handle = await client.start_workflow(Endless.run, id=f"endless-{uuid.uuid4()}", task_queue=tq)

        async def closed() -> bool:
            return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING

        await wait_for(closed, timeout=120, what="the run to reach the history count limit")
        d = await handle.describe()
        assert d.status is WorkflowExecutionStatus.TERMINATED
        events = (await handle.fetch_history()).events
        last = events[-1]
        assert last.event_type == "WorkflowExecutionTerminated"
        reason = last.attributes.reason  # type: ignore[union-attr]
        assert reason.startswith("Workflow history count exceeds limit."), reason
        assert limit <= len(events) <= limit + 8, len(events)


BLOB_LIMIT = 4096


@workflow.defn
class Oversharing:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            small, "y" * (2 * BLOB_LIMIT), start_to_close_timeout=timedelta(seconds=30)
        )


async def blob_limit_fails_the_task(client: Client) -> None:
    """The servers run with TIDAL_BLOB_SIZE_LIMIT=BLOB_LIMIT: a command with a larger payload
    fails the workflow task with Temporal's cause (retried with backoff), not the shard."""
    tq = f"blob-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=tq, workflows=[Oversharing, Quick], activities=[small]):
        handle = await client.start_workflow(Oversharing.run, id=f"blob-{uuid.uuid4()}", task_queue=tq)
        seen: dict[str, str] = {}

        async def task_failed() -> bool:
            seen.update((await handle.describe()).raw.get("last_workflow_task_failure") or {})
            return bool(seen)

        await wait_for(task_failed, timeout=60, what="the workflow task to fail on the blob size limit")
        assert seen["cause"] == "BadScheduleActivityAttributes", seen
        assert "exceed the blob size limit of 4096 bytes" in seen["message"], seen
        qid = f"quick-{uuid.uuid4().hex[:8]}"
        assert await client.execute_workflow(Quick.run, qid, id=qid, task_queue=tq) == f"hi {qid}"
        await handle.terminate("test over")


@workflow.defn
class Loud:
    @workflow.run
    async def run(self) -> str:
        return "z" * (2 * SMALL_LIMIT)  # within the blob limit, over the bus message limit


async def oversized_completion_fails_the_task(client: Client) -> None:
    """A completion the bus would refuse is reported as a failed workflow task (the worker knows
    the server's limit from its transport) instead of being requeued and refused forever."""
    tq = f"loud-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=tq, workflows=[Loud]):
        handle = await client.start_workflow(Loud.run, id=f"loud-{uuid.uuid4()}", task_queue=tq)
        seen: dict[str, str] = {}

        async def task_failed() -> bool:
            seen.update((await handle.describe()).raw.get("last_workflow_task_failure") or {})
            return bool(seen)

        await wait_for(task_failed, timeout=60, what="the oversized completion to fail the task")
        assert seen["cause"] == "MessageTooLarge", seen
        assert f"exceeds the message size limit of {SMALL_LIMIT} bytes" in seen["message"], seen
        await handle.terminate("test over")
