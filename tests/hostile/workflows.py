"""The workflows the hostile suite runs to show the engine still works after the attack."""

from __future__ import annotations

from datetime import timedelta

from tidal import workflow
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


def one_id_per_shard(prefix: str, shard_count: int, namespace: str = "default") -> list[str]:
    """Workflow ids that hash to shards 0..shard_count-1, one each."""
    ids: dict[int, str] = {}
    n = 0
    while len(ids) < shard_count:
        candidate = f"{prefix}-{n}"
        ids.setdefault(shard_for(namespace, candidate, shard_count), candidate)
        n += 1
    return [ids[s] for s in range(shard_count)]
