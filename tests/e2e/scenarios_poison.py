"""Poison messages on one history shard (issue 9, defect 4), as a buggy or hostile worker would
send them: published straight onto the shard's queue, past the frontend's validation. Shared by
the embedded test (in-memory bus + SQLite) and the real-stack test (RabbitMQ + Postgres).

- a start whose run timeout overflows a datetime (OverflowError in history, on every attempt);
- on Postgres, a start whose workflow id holds a NUL and a signal whose argument holds one (the
  database cannot store either: SQLSTATE class 22, on every attempt);
- a workflow that sleeps 10,000,000 days: its completion cannot be applied, so history fails the
  workflow task with cause BadCommandAttributes (visible in its history) instead of losing it.

Ten unrelated workflows on the same shard complete meanwhile, and each poison message lands in the
dead-letter queue with its reason.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from tidal import workflow
from tidal.client import Client
from tidal_schema import Payload, names, shard_for
from tidal_schema.messages import SignalWorkflowExecution, StartWorkflowExecution
from tidal_server.bus import H_DL_QUEUE, H_DL_REASON

from tests.support.stack import wait_for
from tests.support.workflows import GreetingWorkflow

TASK_QUEUE = "poison"

Publish = Callable[[int, bytes], Awaitable[None]]
"""Publish a raw body to history shard N (exchange tidal.history, routing key shard.N)."""
DeadLetters = Callable[[], Awaitable[list[tuple[bytes, Mapping[str, Any]]]]]
"""Everything in the dead-letter queue so far: (body, headers)."""


@workflow.defn
class OverlongSleepWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=10_000_000))

    @workflow.signal
    def poke(self, value: str) -> None:
        pass


WORKFLOWS = [GreetingWorkflow, OverlongSleepWorkflow]


def ids_on_shard(prefix: str, shard: int, shard_count: int, n: int) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < n:
        wid = f"{prefix}{i}"
        if shard_for("default", wid, shard_count) == shard:
            out.append(wid)
        i += 1
    return out


async def poison_on_one_shard(
    client: Client, *, shard_count: int, publish: Publish, dead_letters: DeadLetters, postgres: bool
) -> None:
    prefix = f"poison-{uuid.uuid4().hex[:6]}-"
    shard = shard_for("default", f"{prefix}sleeper", shard_count)
    good_ids = ids_on_shard(f"{prefix}good-", shard, shard_count, 10)
    bad_ids = ids_on_shard(f"{prefix}bad-", shard, shard_count, 1)

    # model_construct: the schema refuses these at every edge now (tidal_schema.limits), so a
    # publisher that skips validation is simulated; history refuses them at parse time or, past
    # that, isolates them as poison: either way dead-lettered with a reason, the shard unharmed.
    overflow = StartWorkflowExecution.model_construct(
        workflow_id=bad_ids[0],
        workflow_type="GreetingWorkflow",
        task_queue=TASK_QUEUE,
        request_id=f"{prefix}overflow",
        workflow_run_timeout=timedelta(days=10_000_000),
    )
    poison: dict[str, bytes] = {"OverflowError": overflow.model_dump_json().encode()}
    sleeper = await client.start_workflow(
        OverlongSleepWorkflow.run, id=f"{prefix}sleeper", task_queue=TASK_QUEUE
    )
    if postgres:
        nul_start = overflow.model_copy(
            update={
                "workflow_id": f"{prefix}nul\x00id",
                "request_id": f"{prefix}nul",
                "workflow_run_timeout": None,
            }
        )
        nul_signal = SignalWorkflowExecution.model_construct(
            workflow_id=f"{prefix}sleeper",
            signal_name="poke",
            input=(Payload.model_construct(data="a\x00b"),),
            request_id=f"{prefix}nul-signal",
        )
        poison["nul start"] = nul_start.model_dump_json().encode()
        poison["nul signal"] = nul_signal.model_dump_json().encode()
    for body in poison.values():
        await publish(shard, body)
    handles = [
        await client.start_workflow(GreetingWorkflow.run, wid, id=wid, task_queue=TASK_QUEUE)
        for wid in good_ids
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert results == [f"Hello, {wid}!" for wid in good_ids]

    found: dict[bytes, Mapping[str, Any]] = {}

    async def all_dead_lettered() -> bool:
        for body, headers in await dead_letters():
            found[body] = headers
        return all(body in found for body in poison.values())

    await wait_for(all_dead_lettered, timeout=60, what=f"{sorted(poison)} in the dead-letter queue")
    for what, body in poison.items():
        headers = found[body]
        assert headers[H_DL_QUEUE] == names.history_queue(shard), headers
        reason = str(headers[H_DL_REASON])
        if reason.startswith("invalid history message"):
            continue  # refused by the schema's limits before any attempt
        assert "after 3 attempts" in reason, reason
        if what == "OverflowError":
            assert "OverflowError" in reason, reason
        else:
            assert "SQLSTATE 22" in reason, reason

    async def task_failed_with_cause() -> bool:
        history = await sleeper.fetch_history()
        # The SDK refuses the timer itself (limits) before history could (BadCommandAttributes).
        return any(
            e.event_type == "WorkflowTaskFailed"
            and any(
                c in e.model_dump_json() for c in ("BadCommandAttributes", "exceeds the maximum duration")
            )
            for e in history.events
        )

    await wait_for(task_failed_with_cause, timeout=60, what="WorkflowTaskFailed naming the cause")
    assert (await sleeper.describe()).status.value == "Running"
    await sleeper.terminate("test over")
