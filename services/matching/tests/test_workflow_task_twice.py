"""What matching's publishing again after a reconnect relies on (young_queues.py): a workflow
task delivered twice is harmless. Every workflow task matching dispatches goes to the worker
queue twice (the embedded stack, matching's dispatch doubled: each run's first task, with
history's direct path to the shared queue turned off; later ones go sticky from history); each
run still completes with its result, one activity attempt, one timer and its signal applied
once, no failed or timed-out task, event ids contiguous."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from tidal import activity, workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema.messages import AddWorkflowTask, MatchingMessage

RUNS: list[str] = []


@activity.defn
async def note(name: str) -> str:
    RUNS.append(name)
    return f"noted {name}"


@workflow.defn
class Twice:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, name: str) -> list[str]:
        noted = await workflow.execute_activity(note, name, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(0.05)
        await workflow.wait_condition(lambda: bool(self.signals))
        return [noted, *self.signals]

    @workflow.signal
    def poke(self, value: str) -> None:
        self.signals.append(value)


async def test_workflow_tasks_delivered_twice_run_each_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every run's first workflow task through matching (history sends them straight to the shared
    # queue otherwise, once matching has declared it: docs/performance.md, "Latency").
    monkeypatch.setenv("TIDAL_SHARED_QUEUE_REFRESH_SECONDS", "0")
    env = await WorkflowEnvironment.start_local()
    matching: Any = env.server.services["matching"]
    dispatch: Callable[[MatchingMessage, str], Awaitable[str | None]] = matching._dispatch
    doubled = 0

    async def twice(msg: MatchingMessage, kind: str) -> str | None:
        nonlocal doubled
        target = await dispatch(msg, kind)
        if isinstance(msg, AddWorkflowTask) and target is not None:
            doubled += 1
            await dispatch(msg, kind)
        return target

    matching._dispatch = twice
    RUNS.clear()
    try:
        async with Worker(env.client, task_queue="twice", workflows=[Twice], activities=[note]):
            handles = [
                await env.client.start_workflow(Twice.run, f"n{i}", id=f"twice-{i}", task_queue="twice")
                for i in range(5)
            ]
            for i, handle in enumerate(handles):
                await handle.signal(Twice.poke, f"s{i}")
            results = [await handle.result() for handle in handles]
        assert results == [[f"noted n{i}", f"s{i}"] for i in range(5)]
        assert sorted(RUNS) == [f"n{i}" for i in range(5)]  # each activity ran once
        assert doubled >= 5
        for handle in handles:
            events = (await handle.fetch_history()).events
            assert [e.event_id for e in events] == list(range(1, len(events) + 1))
            kinds = [e.event_type for e in events]
            assert kinds.count("ActivityTaskScheduled") == 1
            assert kinds.count("TimerStarted") == 1
            assert kinds.count("WorkflowExecutionSignaled") == 1
            assert kinds.count("WorkflowExecutionCompleted") == 1
            assert "WorkflowTaskFailed" not in kinds and "WorkflowTaskTimedOut" not in kinds
    finally:
        await env.shutdown()
