"""Durability scenarios (issue 9): inputs acknowledged while a workflow task is outstanding reach
the workflow code even when that task closes the run or continues as new. Run embedded and on the
real stack (test_buffered_events.py)."""

from __future__ import annotations

import asyncio
import uuid

from tidal import workflow
from tidal.client import Client
from tidal.exceptions import RPCError
from tidal.worker import Replayer

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


@workflow.defn
class OneSignal:
    """Returns the value of the first `add` signal."""

    def __init__(self) -> None:
        self.value: int | None = None

    @workflow.signal
    def add(self, n: int) -> None:
        self.value = self.value if self.value is not None else n

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        return self.value


WORKFLOWS = [CountingEntity, OneSignal]


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
    last = await client.get_workflow_handle(wid).describe()
    refused = await _replay_chain(client, wid, last.run_id)
    print(f"{signals} signals: {refused} closes refused (UnhandledCommand), every run replayed")


async def _replay_chain(client: Client, workflow_id: str, last_run_id: str) -> int:
    """Replay every run of the chain (the refused tasks' histories replay without
    nondeterminism); the number of refused closes."""
    refused, run_id = 0, last_run_id
    replayer = Replayer(workflows=WORKFLOWS)
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        await replayer.replay_workflow(history)
        refused += sum(
            1
            for e in history.events
            if e.event_type == "WorkflowTaskFailed"
            and getattr(e.attributes, "cause", None) == "UnhandledCommand"
        )
        started = history.events[0].attributes
        run_id = getattr(started, "continued_execution_run_id", None) or ""
    return refused


async def signal_retried_after_the_close_gets_the_original_answer(client: Client, task_queue: str) -> None:
    """A signal applied, then the run closed, then the same request retried (its answer was lost):
    the retry hears what the first attempt did, not 404 (before: not_found); a new signal does
    get not_found."""
    wid = f"one-signal-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(OneSignal.run, id=wid, task_queue=task_queue)
    path = client._wf_path(wid, "/signal")
    body = {"signal_name": "add", "request_id": f"{wid}-sig", "args": [7]}
    first = await client._call("POST", path, json=body)
    assert await handle.result() == 7
    for retry in (body, {**body, "run_id": first["run_id"]}):
        again = await client._call("POST", path, json=retry)
        assert again["run_id"] == first["run_id"], again
    try:
        await client._call("POST", path, json={**body, "request_id": f"{wid}-new"})
    except RPCError as e:
        assert e.status == "not_found", e
    else:
        raise AssertionError("a new signal to a closed run was accepted")
    history = await handle.fetch_history()
    assert [e.event_type for e in history.events].count("WorkflowExecutionSignaled") == 1
