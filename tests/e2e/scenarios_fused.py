"""The fused completion (docs/performance.md, "The fused completion ... worker side"): scenarios
that hold whichever way history answers a fused result (accepted, or refused and replayed), so
they assert outcomes (results, histories, each activity run once), never the path taken."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal._task_routing import TaskRouter
from tidal._transport import TaskDelivery
from tidal.client import Client
from tidal.worker import Replayer, Worker
from tidal_schema.messages import ActivityTask

from tests.support.polling import until

RUNS: Counter[str] = Counter()  # (workflow id, step) -> attempts run in this process


@activity.defn
async def step(key: str, value: int) -> int:
    RUNS[key] += 1
    return value + 1


@activity.defn
async def slow_step(key: str, value: int) -> int:
    RUNS[key] += 1
    await asyncio.sleep(0.2)  # keeps the activities running while the signal arrives (not sync)
    return value + 1


def _opts() -> dict[str, timedelta]:
    return {"start_to_close_timeout": timedelta(seconds=30)}


@workflow.defn
class TenSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        wid, value = workflow.info().workflow_id, 0
        for i in range(n):
            value = await workflow.execute_activity(step, args=[f"{wid}/{i}", value], **_opts())
        return value


@workflow.defn
class Branchy:
    """Branches on `workflow.now()` and on each result: a replay that saw another time or
    result would produce other commands."""

    @workflow.run
    async def run(self, n: int) -> list[str]:
        wid, value, seen = workflow.info().workflow_id, 0, []
        for i in range(n):
            value = await workflow.execute_activity(step, args=[f"{wid}/{i}", value], **_opts())
            if workflow.now().microsecond % 2 == 0:
                await workflow.sleep(timedelta(milliseconds=1))
                seen.append(f"even{value}")
            else:
                workflow.upsert_memo({"last": value})
                seen.append(f"odd{value}")
        return seen


@workflow.defn
class Signalled:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, n: int) -> tuple[int, list[str]]:
        wid, value = workflow.info().workflow_id, 0
        for i in range(n):
            value = await workflow.execute_activity(slow_step, args=[f"{wid}/{i}", value], **_opts())
        await workflow.wait_condition(lambda: bool(self.signals))
        return value, self.signals

    @workflow.signal
    def poke(self, what: str) -> None:
        self.signals.append(what)

    @workflow.query
    def poked(self) -> list[str]:
        return list(self.signals)


@workflow.defn
class Pairs:
    @workflow.run
    async def run(self, n: int) -> int:
        wid, total = workflow.info().workflow_id, 0
        for i in range(n):
            a, b = await asyncio.gather(
                workflow.execute_activity(step, args=[f"{wid}/{i}a", i], **_opts()),
                workflow.execute_activity(step, args=[f"{wid}/{i}b", 10 * i], **_opts()),
            )
            total += a + b
        return total


@workflow.defn
class Quick:
    """Sequential activities with a short start-to-close timeout (an attempt whose outcome never
    reaches history is retried soon)."""

    @workflow.run
    async def run(self, n: int) -> int:
        wid, value = workflow.info().workflow_id, 0
        for i in range(n):
            value = await workflow.execute_activity(
                step, args=[f"{wid}/{i}", value], start_to_close_timeout=timedelta(seconds=2)
            )
        return value


WORKFLOWS = [TenSteps, Branchy, Signalled, Pairs, Quick]
ACTIVITIES = [step, slow_step]


def fused_sent(task_queue: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "tidal_worker_fused_completions_total", {"task_queue": task_queue, "result": "sent"}
        )
        or 0.0
    )


class _AssumingRouter(TaskRouter):
    """Until history sets `ActivityTask.next_event_id` (fusedhist's half), the eager attempt gets
    the value history would set when the run is idle, taken from the cached instance, so the
    worker fuses and history (ignoring the field, or refusing it) exercises the refusal path.
    A value history set is left alone."""

    async def _run_activity_task(self, task: ActivityTask, delivery: TaskDelivery) -> None:
        wf = self.workflow_worker
        instance = wf._cache.get(task.run_id) if wf is not None else None
        if task.next_event_id == 0 and instance is not None:
            s = instance.last_event_id + 3 + len(instance.last_commands)
            task = task.model_copy(update={"next_event_id": s})
        await super()._run_activity_task(task, delivery)


class FusingWorker(Worker):
    _router_class = _AssumingRouter


def _worker(client: Client, task_queue: str, **kwargs: object) -> Worker:
    return FusingWorker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        **kwargs,  # type: ignore[arg-type]
    )


async def _ran_once(wid: str, keys: list[str]) -> None:
    assert {k: RUNS[f"{wid}/{k}"] for k in keys} == dict.fromkeys(keys, 1)


async def _replays(client: Client, wid: str, workflows: list[type]) -> list[str]:
    """The run's stored history replays with the same commands; its event types."""
    history = await client.get_workflow_handle(wid).fetch_history()
    await Replayer(workflows=workflows).replay_workflow(history)
    return [e.event_type for e in history.events]


async def ten_sequential(client: Client, task_queue: str) -> None:
    sent = fused_sent(task_queue)
    async with _worker(client, task_queue):
        wid = f"fused-ten-{uuid.uuid4()}"
        assert await client.execute_workflow(TenSteps.run, 10, id=wid, task_queue=task_queue) == 10
    await _ran_once(wid, [str(i) for i in range(10)])
    types = await _replays(client, wid, [TenSteps])
    assert types.count("ActivityTaskScheduled") == types.count("ActivityTaskCompleted") == 10
    assert "WorkflowTaskFailed" not in types
    assert fused_sent(task_queue) > sent  # the worker fused (whatever history answered)


async def branches_replay(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        wids = [f"fused-branchy-{uuid.uuid4()}" for _ in range(3)]
        got = await asyncio.gather(
            *(client.execute_workflow(Branchy.run, 5, id=w, task_queue=task_queue) for w in wids)
        )
    for wid, seen in zip(wids, got, strict=True):
        assert [s.removeprefix("even").removeprefix("odd") for s in seen] == ["1", "2", "3", "4", "5"]
        await _ran_once(wid, [str(i) for i in range(5)])
        types = await _replays(client, wid, [Branchy])
        assert "WorkflowTaskFailed" not in types
    # A worker with no cache (every task replays from history) finishes a run that another
    # worker fused halfway through.
    wid = f"fused-branchy-evicted-{uuid.uuid4()}"
    async with _worker(client, task_queue, max_cached_workflows=0):
        seen = await client.execute_workflow(Branchy.run, 3, id=wid, task_queue=task_queue)
    assert len(seen) == 3
    await _replays(client, wid, [Branchy])


async def signal_while_running(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        wid = f"fused-signal-{uuid.uuid4()}"
        handle = await client.start_workflow(Signalled.run, 6, id=wid, task_queue=task_queue)
        await until(lambda: RUNS[f"{wid}/2"] >= 1, deadline=30, what="the third activity to start")
        await handle.signal(Signalled.poke, "hello")
        assert await handle.result() == (6, ["hello"])
        assert await handle.query(Signalled.poked) == ["hello"]
    await _ran_once(wid, [str(i) for i in range(6)])
    types = await _replays(client, wid, [Signalled])
    assert types.count("WorkflowExecutionSignaled") == 1


async def parallel_pairs(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        wid = f"fused-pairs-{uuid.uuid4()}"
        got = await client.execute_workflow(Pairs.run, 4, id=wid, task_queue=task_queue)
    assert got == sum((i + 1) + (10 * i + 1) for i in range(4))
    await _ran_once(wid, [f"{i}{x}" for i in range(4) for x in "ab"])
    types = await _replays(client, wid, [Pairs])
    assert types.count("ActivityTaskCompleted") == 8


async def opted_out(client: Client, task_queue: str) -> None:
    sent = fused_sent(task_queue)
    async with _worker(client, task_queue, disable_fused_completion=True):
        wid = f"fused-off-{uuid.uuid4()}"
        assert await client.execute_workflow(TenSteps.run, 4, id=wid, task_queue=task_queue) == 4
    await _ran_once(wid, [str(i) for i in range(4)])
    assert fused_sent(task_queue) == sent


async def evicted_while_ahead(client: Client, task_queue: str) -> None:
    """A cache of one run for four at once: instances ahead of history are evicted all the time
    (the next task of their run replays)."""
    async with _worker(client, task_queue, max_cached_workflows=1):
        wids = [f"fused-evicted-{uuid.uuid4()}" for _ in range(4)]
        got = await asyncio.gather(
            *(client.execute_workflow(TenSteps.run, 5, id=w, task_queue=task_queue) for w in wids)
        )
    assert got == [5] * 4
    for wid in wids:
        await _ran_once(wid, [str(i) for i in range(5)])
        assert "WorkflowTaskFailed" not in await _replays(client, wid, [TenSteps])


ALL = [ten_sequential, branches_replay, signal_while_running, parallel_pairs, evicted_while_ahead, opted_out]
