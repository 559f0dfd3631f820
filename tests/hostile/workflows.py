"""The workflows the hostile suite runs to show the engine still works after the attack."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.common import RetryPolicy
from tidal.exceptions import ActivityError, ApplicationError
from tidal_schema import shard_for

TASK_QUEUE = "hostile"


@workflow.defn
class HostileWorkflow:
    """Echoes its argument: cheap, and proves a whole start -> task -> completion round trip."""

    @workflow.run
    async def run(self, value: str) -> str:
        return f"ok {value}"


@workflow.defn
class OversleepWorkflow:
    """Sleeps longer than any timer may last (defect 4: history raised OverflowError on every
    retry of this, slowing its whole shard)."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(days=10_000_000))
        return "woke"


@workflow.defn
class WaitForCancelWorkflow:
    """Waits until it is cancelled (the cancel-after-start scenario)."""

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class UpdateCounterWorkflow:
    """Counts the updates it took; returns once it took `wanted` of them."""

    def __init__(self) -> None:
        self.taken = 0

    @workflow.run
    async def run(self, wanted: int) -> int:
        await workflow.wait_condition(lambda: self.taken >= wanted)
        return self.taken

    @workflow.update
    def take(self, blob: str) -> int:
        self.taken += 1
        return len(blob)


# Four payloads of 1.5 MB: each under the 2 MiB blob size limit, together far over it.
BIG_DETAILS = tuple("x" * 1_500_000 for _ in range(4))


@activity.defn
async def fail_with_huge_details(kind: str) -> str:
    """Fails with details (or unsent heartbeat details) of 6 MB: history used to record them in
    ActivityTaskFailed as they were, and carry them into every retry."""
    if kind == "heartbeat message":
        # Sent at once as its own message; history fails the attempt and tells the worker it is
        # gone, which cancels it. Not cancelled within 20 s: the heartbeat was taken as it was.
        activity.heartbeat(*BIG_DETAILS)
        try:
            await asyncio.wait_for(activity.wait_for_cancelled(), timeout=20)
        except TimeoutError:
            return "not cancelled"
        raise RuntimeError("cancelled")  # not reached: a cancelled attempt reports nothing
    if kind == "heartbeat":
        # The first heartbeat is sent at once, the next waits out the throttle window: the failure
        # carries it. (heartbeat() hands over with call_soon: each sleep lets it land first.)
        activity.heartbeat("small")
        await asyncio.sleep(0.05)
        activity.heartbeat(*BIG_DETAILS)
        await asyncio.sleep(0)
        raise RuntimeError("retry me")
    raise ApplicationError("huge details", *BIG_DETAILS)


@workflow.defn
class HugeFailureWorkflow:
    """Runs `fail_with_huge_details` (retryable, 3 attempts) and returns what it caught."""

    @workflow.run
    async def run(self, kind: str) -> str:
        try:
            await workflow.execute_activity(
                fail_with_huge_details,
                kind,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=10)),
            )
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            return f"{kind}: {cause}"
        return "no failure"


def one_id_per_shard(prefix: str, shard_count: int, namespace: str = "default") -> list[str]:
    """Workflow ids that hash to shards 0..shard_count-1, one each."""
    ids: dict[int, str] = {}
    n = 0
    while len(ids) < shard_count:
        candidate = f"{prefix}-{n}"
        ids.setdefault(shard_for(namespace, candidate, shard_count), candidate)
        n += 1
    return [ids[s] for s in range(shard_count)]


@workflow.defn
class GrowingMemoWorkflow:
    """Upserts its memo a task at a time, each upsert under the blob size limit: replacing and
    removing a 1.5 MB key keeps the memo small, a second 1.5 MB key makes it 3 MB (history used
    to accept any total, rewriting the growing memo column on every upsert)."""

    @workflow.run
    async def run(self) -> str:
        big = "m" * 1_500_000
        workflow.upsert_memo({"a": big})
        await workflow.sleep(0.01)
        workflow.upsert_memo({"a": big + "!"})
        await workflow.sleep(0.01)
        workflow.upsert_memo({"a": None, "b": big})
        await workflow.sleep(0.01)
        workflow.upsert_memo({"c": big})
        await workflow.sleep(0.01)
        return "grown"
