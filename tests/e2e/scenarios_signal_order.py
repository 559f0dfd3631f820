"""Signals that arrive before a run's first workflow task starts (issue 11): recorded before its
WorkflowTaskStarted, as in Temporal's history, and seen by the workflow's first activation (no
extra task). Each scenario starts the run with no worker on its task queue, signals it, then
starts a worker; shared by the embedded and the real-stack tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tidal import workflow
from tidal.client import Client, WorkflowHandle
from tidal.worker import Worker

from tests.support.stack import wait_for

__all__ = [
    "WORKFLOWS",
    "signal_with_start_before_the_first_task",
    "signals_before_the_first_task",
    "signals_before_the_first_task_after_continue_as_new",
]


@dataclass(frozen=True)
class Seen:
    """What the code saw: signals at its first activation, and in all."""

    at_first_activation: list[str]
    items: list[str]


@workflow.defn
class SignalCollector:
    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.run
    async def run(self, expect: int, then_on: str = "") -> dict[str, Any]:
        first = list(self.items)  # signal jobs of the first activation run before the main code
        if then_on:
            workflow.continue_as_new(args=[expect], task_queue=then_on)
        await workflow.wait_condition(lambda: len(self.items) >= expect)
        return {"at_first_activation": first, "items": self.items}

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)


WORKFLOWS = [SignalCollector]


def _queue() -> str:
    return f"signal-order-{uuid.uuid4().hex[:8]}"


async def _run_worker_until_done(client: Client, task_queue: str, handle: WorkflowHandle[Any, Any]) -> Seen:
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        out = await handle.result()
    return Seen(**out)


async def _first_task_events(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """Event types of the run up to its first WorkflowTaskCompleted, and the later task count."""
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert "WorkflowTaskCompleted" in events, events
    return events[: events.index("WorkflowTaskCompleted") + 1]


EXPECTED = [
    "WorkflowExecutionStarted",
    "WorkflowTaskScheduled",
    "WorkflowExecutionSignaled",
    "WorkflowExecutionSignaled",
    "WorkflowExecutionSignaled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
]


async def _assert_one_task(handle: WorkflowHandle[Any, Any]) -> None:
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert events.count("WorkflowTaskScheduled") == 1, events  # no extra task for the signals
    assert "WorkflowTaskFailed" not in events, events


async def signals_before_the_first_task(client: Client, task_queue: str) -> None:
    del task_queue  # a queue of its own, with no worker until the signals are in
    queue = _queue()
    handle = await client.start_workflow(
        SignalCollector.run, 3, id=f"early-signals-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    for item in ("a", "b", "c"):
        await handle.signal(SignalCollector.add, item)
    seen = await _run_worker_until_done(client, queue, handle)
    assert seen == Seen(at_first_activation=["a", "b", "c"], items=["a", "b", "c"])
    assert await _first_task_events(handle) == EXPECTED
    await _assert_one_task(handle)


async def signals_before_the_first_task_after_continue_as_new(client: Client, task_queue: str) -> None:
    del task_queue
    first_queue, next_queue = _queue(), _queue()
    wid = f"early-signals-can-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        SignalCollector.run, args=[3, next_queue], id=wid, task_queue=first_queue
    )
    async with Worker(client, task_queue=first_queue, workflows=WORKFLOWS):
        # The successor's first task waits on a queue nobody serves yet.
        async def continued() -> bool:
            return (await handle.describe()).status.name == "CONTINUED_AS_NEW"

        await wait_for(continued, timeout=30, what="the run to continue as new")
    successor = client.get_workflow_handle(wid)
    for item in ("a", "b", "c"):
        await successor.signal(SignalCollector.add, item)
    seen = await _run_worker_until_done(client, next_queue, successor)
    assert seen == Seen(at_first_activation=["a", "b", "c"], items=["a", "b", "c"])
    assert await _first_task_events(successor) == EXPECTED
    await _assert_one_task(successor)


async def signal_with_start_before_the_first_task(client: Client, task_queue: str) -> None:
    del task_queue
    queue = _queue()
    wid = f"early-sws-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        SignalCollector.run, 3, id=wid, task_queue=queue, start_signal="add", start_signal_args=["a"]
    )
    # Signal-with-start of the running run: only its signal applies.
    await client.start_workflow(
        SignalCollector.run, 3, id=wid, task_queue=queue, start_signal="add", start_signal_args=["b"]
    )
    await handle.signal(SignalCollector.add, "c")
    seen = await _run_worker_until_done(client, queue, handle)
    assert seen == Seen(at_first_activation=["a", "b", "c"], items=["a", "b", "c"])
    assert await _first_task_events(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionSignaled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
    ]
    await _assert_one_task(handle)
