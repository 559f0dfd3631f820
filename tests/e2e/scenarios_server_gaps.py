"""temporalio behaviour that needs the server (issue 11): the history size and continue-as-new
suggestion a workflow task carries. Run in both modes by test_server_gaps.py, whose servers
suggest continuing as new past `SUGGEST_AT` events."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidal import workflow
from tidal.client import Client, WorkflowExecutionStatus, WorkflowHandle
from tidal.exceptions import NondeterminismError, RPCError, WorkflowAlreadyStartedError
from tidal.worker import Replayer, Worker

from tests.support.stack import wait_for

__all__ = [
    "SCENARIOS",
    "SUGGEST_AT",
    "WORKFLOWS",
    "already_started_names_the_first_run",
    "continue_as_new_when_suggested",
]

SUGGEST_AT = 30  # history_count_suggest_continue_as_new of the test servers


@dataclass
class Carry:
    signals: int = 0
    sizes: tuple[int, ...] = ()  # get_current_history_size() after each signal of the first run
    length_when_suggested: int = 0


@workflow.defn
class Accumulator:
    """Takes signals until the server suggests continuing as new, then continues with what it
    counted; the next run waits for `finish`."""

    def __init__(self) -> None:
        self.pending = 0
        self.finished = False

    @workflow.run
    async def run(self, carry: Carry) -> Carry:
        if carry.signals:  # the continued run
            await workflow.wait_condition(lambda: self.finished)
            return carry
        sizes: list[int] = []
        count = 0
        while True:
            await workflow.wait_condition(lambda: self.pending > 0)
            count, self.pending = count + self.pending, 0
            info = workflow.info()
            sizes.append(info.get_current_history_size())
            if info.is_continue_as_new_suggested():
                workflow.continue_as_new(
                    Carry(
                        signals=count,
                        sizes=tuple(sizes),
                        length_when_suggested=info.get_current_history_length(),
                    )
                )

    @workflow.signal
    def add(self) -> None:
        self.pending += 1

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@workflow.defn
class Chain:
    """Continues as new once, then waits to be told to finish."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self, continued: bool = False) -> str:
        if not continued:
            workflow.continue_as_new(True)
        await workflow.wait_condition(lambda: self.finished)
        return "done"

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@workflow.defn(name="Annotated")
class Annotated:
    """Sets its current details and upserts its memo, then continues as new once (carrying the
    memo) and waits for `finish`."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self, continued: bool = False) -> dict[str, Any]:
        if continued:
            workflow.set_current_details("second run")
            await workflow.wait_condition(lambda: self.finished)
            return workflow.memo()
        workflow.set_current_details("**step 1**: waiting")
        workflow.upsert_memo({"added": {"n": 1}, "replaced": "new", "removed": None})
        seen = workflow.memo()  # the upsert shows at once, as in temporalio
        assert seen == {"kept": "k", "replaced": "new", "added": {"n": 1}}, seen
        assert workflow.get_current_details() == "**step 1**: waiting"
        await workflow.wait_condition(lambda: self.finished)
        workflow.continue_as_new(True)

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@workflow.defn(name="Annotated")
class AnnotatedWithoutUpsert:
    """The same workflow after a change that dropped the memo upsert."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self, continued: bool = False) -> dict[str, Any]:
        workflow.set_current_details("**step 1**: waiting")
        await workflow.wait_condition(lambda: self.finished)
        workflow.continue_as_new(True)

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@workflow.defn
class CronCounter:
    """One run of a cron chain: counts on from the last completed run's result."""

    @workflow.run
    async def run(self) -> dict[str, Any]:
        last = workflow.get_last_completion_result(dict) if workflow.has_last_completion_result() else None
        return {"n": (last["n"] if last else 0) + 1, "cron": workflow.info().cron_schedule}


@workflow.defn
class CronParent:
    """Starts a cron child (ChildWorkflowConfig.cron_schedule) that outlives it."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        config: workflow.ChildWorkflowConfig = {
            "id": child_id,
            "cron_schedule": "@every 2s",
            "parent_close_policy": workflow.ParentClosePolicy.ABANDON,
        }
        child = await workflow.start_child_workflow(CronCounter.run, **config)
        return child.first_execution_run_id or ""


@workflow.defn
class Clocked:
    """Remembers `workflow.now()` of its first task."""

    def __init__(self) -> None:
        self.first: str = ""
        self.finished = False

    @workflow.run
    async def run(self) -> str:
        self.first = workflow.now().isoformat()
        await workflow.wait_condition(lambda: self.finished)
        return self.first

    @workflow.query
    def first_now(self) -> str:
        return self.first

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


WORKFLOWS = [Accumulator, Chain, Annotated, CronCounter, CronParent, Clocked]
QUEUE_WAIT_SECONDS = 1.5  # how long the first task waits for a worker


async def continue_as_new_when_suggested(client: Client, task_queue: str) -> None:
    """Signals one at a time until the run continues as new: the suggestion comes once the
    history passes `SUGGEST_AT` events, the size grows with the history, both are recorded on
    WorkflowTaskStarted, and a replay of the first run takes the same decisions."""
    wf_id = f"suggest-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(Accumulator.run, Carry(), id=wf_id, task_queue=task_queue)
        first_run = handle.first_execution_run_id or handle.result_run_id
        assert first_run
        first = client.get_workflow_handle(wf_id, run_id=first_run)
        for _ in range(SUGGEST_AT):  # one signal adds at most 4 events: enough to get there
            await first.signal(Accumulator.add)
            await wait_for(lambda: _task_done(first), timeout=30, what="the signal's workflow task")
            if (await first.describe()).status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
                break
        assert (await first.describe()).status is WorkflowExecutionStatus.CONTINUED_AS_NEW
        latest = client.get_workflow_handle(wf_id, result_type=Carry)
        await latest.signal(Accumulator.finish)
        carry = await latest.result()
    assert isinstance(carry, Carry), carry
    assert carry.length_when_suggested >= SUGGEST_AT, carry
    sizes = carry.sizes
    assert all(s > 0 for s in sizes) and list(sizes) == sorted(sizes) and sizes[-1] > sizes[0], sizes
    history = await first.fetch_history()
    started = [e.attributes for e in history.events if e.event_type == "WorkflowTaskStarted"]
    # (The first signal may reach the first task: then every task saw one.)
    assert [s.history_size_bytes for s in started][-len(sizes) :] == list(sizes), (started, sizes)
    assert started[-1].suggest_continue_as_new and not any(s.suggest_continue_as_new for s in started[:-1])
    # The recorded values are what a replay reads: without them it would not continue as new here.
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def _task_done(handle: WorkflowHandle[object, object]) -> bool:
    last = (await handle.fetch_history()).events[-1].event_type
    return last not in ("WorkflowTaskScheduled", "WorkflowExecutionSignaled")


async def already_started_names_the_first_run(client: Client, task_queue: str) -> None:
    """A start refused because the id's second run is running names that run (`run_id`) and the
    chain's first (`first_run_id`, from the server's 409 body), as temporalio's error does."""
    wf_id = f"chain-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        first = await client.start_workflow(Chain.run, id=wf_id, task_queue=task_queue)
        latest = client.get_workflow_handle(wf_id)
        await wait_for(
            lambda: _continued(latest, first.result_run_id or ""), timeout=30, what="the continue-as-new"
        )
        second_run = (await latest.describe()).run_id
        try:
            await client.start_workflow(Chain.run, id=wf_id, task_queue=task_queue)
        except WorkflowAlreadyStartedError as err:
            assert (err.run_id, err.first_run_id) == (second_run, first.result_run_id), vars(err)
        else:
            raise AssertionError("the second start was not refused")
        await latest.signal(Chain.finish)
        assert await latest.result() == "done"


async def _continued(handle: WorkflowHandle[object, object], first_run_id: str) -> bool:
    desc = await handle.describe()
    return desc.run_id != first_run_id and desc.status is WorkflowExecutionStatus.RUNNING


async def current_details_and_memo_upserts(client: Client, task_queue: str) -> None:
    """`set_current_details` shows in describe (HTTP and SDK); `upsert_memo` adds, replaces and
    removes memo keys, visible in describe and list, carried by continue-as-new; replaying the
    history with code that no longer upserts is a NondeterminismError."""
    wf_id = f"annotated-{uuid.uuid4().hex[:8]}"
    memo = {"kept": "k", "replaced": "old", "removed": "gone"}
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(Annotated.run, id=wf_id, task_queue=task_queue, memo=memo)
        first = client.get_workflow_handle(wf_id, run_id=handle.result_run_id)
        await wait_for(lambda: _details_are(first, "**step 1**: waiting"), timeout=30, what="current details")
        want = {"kept": "k", "replaced": "new", "added": {"n": 1}}
        desc = await first.describe()
        assert await desc.memo() == want, await desc.memo()
        assert desc.raw_info["current_details"] == "**step 1**: waiting"
        listed = [w async for w in client.list_workflows(f"WorkflowId = '{wf_id}'")]
        assert [await w.memo() for w in listed] == [want]
        history = await first.fetch_history()
        modified = [e for e in history.events if e.event_type == "WorkflowPropertiesModified"]
        assert len(modified) == 1, [e.event_type for e in history.events]
        await first.signal(Annotated.finish)
        latest = client.get_workflow_handle(wf_id)
        await wait_for(
            lambda: _details_are(latest, "second run"), timeout=30, what="the second run's details"
        )
        await latest.signal(Annotated.finish)
        assert await latest.result() == want  # the continued run started with the upserted memo
    await Replayer(workflows=[Annotated]).replay_workflow(await first.fetch_history())
    try:
        await Replayer(workflows=[AnnotatedWithoutUpsert]).replay_workflow(await first.fetch_history())
    except NondeterminismError as err:
        assert "WorkflowPropertiesModified" in str(err), err
    else:
        raise AssertionError("replaying without the memo upsert passed")


async def _details_are(handle: WorkflowHandle[object, object], text: str) -> bool:
    return await (await handle.describe()).current_details() == text


async def cron_schedule_runs_a_chain(client: Client, task_queue: str) -> None:
    """`cron_schedule` (Temporal's): the first run waits for the first cron time; each close
    starts the next run as a continue-as-new with initiator CronSchedule, carrying the last
    result; a terminate ends the chain; an invalid cron is refused with the field named."""
    try:
        await client.start_workflow(
            CronCounter.run, id="cron-bad", task_queue=task_queue, cron_schedule="61 * * * *"
        )
    except RPCError as err:
        assert err.status == "invalid_argument" and "cron_schedule" in str(err), err
    else:
        raise AssertionError("an invalid cron schedule was accepted")
    wf_id = f"cron-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(
            CronCounter.run, id=wf_id, task_queue=task_queue, cron_schedule="@every 2s"
        )
        run_id = handle.result_run_id or ""
        results: list[dict[str, Any]] = []
        starts: list[Any] = []
        for _ in range(3):
            run = client.get_workflow_handle(wf_id, run_id=run_id)
            await wait_for(lambda run=run: _closed(run), timeout=60, what=f"cron run {len(results) + 1}")
            events = (await run.fetch_history()).events
            starts.append(events[0].attributes)
            close = events[-1].attributes
            assert close.type == "WorkflowExecutionCompleted", close
            results.append(await client.data_converter.decode(list(close.result[:1]), [dict]))
            run_id = close.new_execution_run_id or ""
            assert run_id, close
        latest = client.get_workflow_handle(wf_id)
        await latest.terminate("enough")
        await wait_for(lambda: _closed(latest), timeout=30, what="the terminated run")
        final = await latest.describe()
    assert [r[0]["n"] for r in results] == [1, 2, 3] and results[0][0]["cron"] == "@every 2s", results
    backoffs = [s.first_workflow_task_backoff for s in starts]
    assert all(b is not None and 0 < b.total_seconds() <= 2 for b in backoffs), backoffs
    assert [s.initiator for s in starts] == [None, "CronSchedule", "CronSchedule"], starts
    assert starts[1].first_execution_run_id == handle.result_run_id
    assert final.status is WorkflowExecutionStatus.TERMINATED and final.run_id == run_id
    # The chain ends with the terminate: no run after the terminated one.
    assert (await client.count_workflows(f"WorkflowId = '{wf_id}'")).count == 4


async def cron_schedule_on_a_child(client: Client, task_queue: str) -> None:
    """`start_child_workflow(cron_schedule=)`: the child's runs follow its cron schedule (each
    carrying the last result) after its parent closed (ABANDON)."""
    child_id = f"cron-child-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        first_run = await client.execute_workflow(
            CronParent.run, child_id, id=f"{child_id}-parent", task_queue=task_queue
        )
        run_id, results = first_run, []
        for _ in range(2):
            run = client.get_workflow_handle(child_id, run_id=run_id)
            await wait_for(lambda run=run: _closed(run), timeout=60, what=f"child run {len(results) + 1}")
            events = (await run.fetch_history()).events
            assert events[0].attributes.cron_schedule == "@every 2s", events[0]
            close = events[-1].attributes
            assert close.type == "WorkflowExecutionCompleted", close
            results.append((await client.data_converter.decode(list(close.result[:1]), [dict]))[0]["n"])
            run_id = close.new_execution_run_id or ""
        await client.get_workflow_handle(child_id).terminate("enough")
    assert results == [1, 2], results


async def now_is_the_task_started_time(client: Client, task_queue: str) -> None:
    """`workflow.now()` is the time the task started (temporalio's), not when it was scheduled:
    a first task that waited in the queue for a worker sees the time the worker took it, which
    WorkflowTaskStarted records, and a replay (a query on the closed run) sees the same."""
    wf_id = f"clocked-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(Clocked.run, id=wf_id, task_queue=task_queue)
    # No worker yet: the task waits in the queue (the wait is what is measured, not a sync point).
    await asyncio.sleep(QUEUE_WAIT_SECONDS)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        await wait_for(lambda: _task_done(handle), timeout=30, what="the first workflow task")
        await handle.signal(Clocked.finish)
        first = await handle.result()
        events = (await handle.fetch_history()).events
        scheduled = next(e for e in events if e.event_type == "WorkflowTaskScheduled")
        started = next(e for e in events if e.event_type == "WorkflowTaskStarted")
        assert started.attributes.started_time is not None, started
        assert datetime.fromisoformat(first) == started.attributes.started_time, (first, started)
        waited = (started.attributes.started_time - scheduled.event_time).total_seconds()
        assert waited >= QUEUE_WAIT_SECONDS - 0.1, waited
        # The run is closed and dropped from the cache: the query replays it from history.
        assert await handle.query(Clocked.first_now) == first
    await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())


async def _closed(handle: WorkflowHandle[object, object]) -> bool:
    return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING


SCENARIOS = [
    now_is_the_task_started_time,
    cron_schedule_runs_a_chain,
    cron_schedule_on_a_child,
    continue_as_new_when_suggested,
    already_started_names_the_first_run,
    current_details_and_memo_upserts,
]
