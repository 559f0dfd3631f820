"""Query (and update) scenarios, run on the embedded server and on the real stack
(`tests/e2e/test_queries.py`)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from tidal.exceptions import ApplicationError, RPCError

from tests.support.stack import wait_for

QUERY_TASK_QUEUE = "e2e-queries"


@workflow.defn
class CounterWorkflow:
    """Counts what it is signalled; ends (returning the count) when told to finish."""

    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def add(self, n: int) -> None:
        self.count += n

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def value(self) -> int:
        return self.count

    @workflow.query(name="scaled")
    def scaled_value(self, factor: int) -> int:
        return self.count * factor

    @workflow.query
    def explode(self) -> str:
        raise ValueError("the query handler failed on purpose")

    @workflow.query
    def sneaky(self) -> str:
        # A query must not change the run: this one tries to record a marker (a command).
        workflow.patched("query-side-effect")
        return "should not get here"


QUERY_WORKFLOWS: list[type] = [CounterWorkflow]


async def _events(handle: WorkflowHandle) -> list[str]:  # type: ignore[type-arg]
    return [e.event_type for e in (await handle.fetch_history()).events]


async def _completed_tasks(handle: WorkflowHandle, n: int) -> None:  # type: ignore[type-arg]
    async def done() -> bool:
        return (await _events(handle)).count("WorkflowTaskCompleted") >= n

    await wait_for(done, timeout=30, what=f"{n} completed workflow task(s)")


async def _query_fails(coro, kind: str) -> WorkflowQueryFailedError:  # type: ignore[no-untyped-def]
    try:
        await coro
    except WorkflowQueryFailedError as exc:
        assert exc.kind == kind, (exc.kind, str(exc))
        return exc
    raise AssertionError(f"the query must fail with {kind}")


async def queries(client: Client) -> None:
    """Queries see the state of the last completed workflow task, from the sticky worker's cache
    while the run is open and by replay once it has closed; failures are structured; nothing is
    ever written to history."""
    handle = await client.start_workflow(
        CounterWorkflow.run, id=f"count-{uuid.uuid4()}", task_queue=QUERY_TASK_QUEUE
    )
    await _completed_tasks(handle, 1)
    assert await handle.query(CounterWorkflow.value) == 0
    await handle.signal(CounterWorkflow.add, 5)
    await _completed_tasks(handle, 2)
    before = await _events(handle)
    assert await handle.query(CounterWorkflow.value) == 5
    assert await handle.query("value") == 5
    assert await handle.query(CounterWorkflow.scaled_value, 3) == 15
    assert await handle.query("scaled", args=[2]) == 10

    unknown = await _query_fails(handle.query("nope"), "unknown_query")
    assert set(unknown.known_queries) == {"value", "scaled", "explode", "sneaky"}
    assert "nope" in str(unknown)
    await _query_fails(handle.query("scaled", "not a number"), "bad_arguments")
    await _query_fails(handle.query("scaled", args=[1, 2]), "bad_arguments")
    failed = await _query_fails(handle.query(CounterWorkflow.explode), "handler_failed")
    assert "failed on purpose" in str(failed)
    await _query_fails(handle.query(CounterWorkflow.sneaky), "handler_failed")
    # Still answered correctly after a handler tried to issue a command.
    assert await handle.query(CounterWorkflow.value) == 5
    assert await _events(handle) == before, "queries must not write history"

    await handle.signal(CounterWorkflow.add, 2)
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == 7
    closed = await _events(handle)
    # A closed run is answered by replaying its history (the worker evicted it on close).
    assert await handle.query(CounterWorkflow.value) == 7
    assert await handle.query(CounterWorkflow.scaled_value, 10) == 70
    assert await _events(handle) == closed
    assert not any("Query" in t for t in closed)


async def stack_trace(client: Client) -> None:
    """The built-in `__stack_trace` query (as in Temporal): where each of the run's coroutines
    waits, answered like any query, from the cache or by replay, and written nowhere."""
    handle = await client.start_workflow(
        CounterWorkflow.run, id=f"stack-{uuid.uuid4()}", task_queue=QUERY_TASK_QUEUE
    )
    await _completed_tasks(handle, 1)
    before = await _events(handle)
    trace = await handle.query("__stack_trace")
    assert isinstance(trace, str)
    assert "scenarios_queries.py" in trace and "in run" in trace, trace
    assert "wait_condition" in trace, trace
    assert await _events(handle) == before
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == 0
    # A closed run has no coroutines left waiting.
    assert "wait_condition" not in await handle.query("__stack_trace")


async def query_errors_without_worker(client: Client) -> None:
    """No worker polls the task queue: the query times out with a clear error. An unknown
    workflow is not found."""
    handle = await client.start_workflow(
        CounterWorkflow.run, id=f"orphan-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4().hex[:8]}"
    )
    try:
        await handle.query(CounterWorkflow.value, rpc_timeout=timedelta(seconds=1))
    except RPCError as exc:
        assert exc.status == "deadline_exceeded" and exc.code == 504, (exc.status, exc.code)
        assert "nobody-" in str(exc) and "task queue" in str(exc)
    else:
        raise AssertionError("a query nobody answers must time out")
    await handle.terminate("test over")
    try:
        await client.get_workflow_handle(f"missing-{uuid.uuid4()}").query("value")
    except RPCError as exc:
        assert exc.status == "not_found"
    else:
        raise AssertionError("querying a workflow that does not exist must fail")


async def query_replays_on_another_worker(client: Client, task_queue: str) -> None:
    """The worker that has the run cached leaves; the query is answered by another worker that
    replays the run's history (its sticky queue is gone, matching falls back to the shared one)."""
    from tidal.worker import Worker

    handle = await client.start_workflow(
        CounterWorkflow.run, id=f"moved-{uuid.uuid4()}", task_queue=task_queue
    )
    async with Worker(client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        await handle.signal(CounterWorkflow.add, 3)
        await _completed_tasks(handle, 1)

        async def counted() -> bool:
            return bool(await handle.query(CounterWorkflow.value) == 3)

        await wait_for(counted, timeout=30, what="the signal to be handled")
    async with Worker(client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        assert await handle.query(CounterWorkflow.scaled_value, 2) == 6
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 3


# --- updates ---------------------------------------------------------------------------------


@activity.defn
async def shout(word: str) -> str:
    return f"{word.upper()}!"


@workflow.defn
class CartWorkflow:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.update
    async def add_item(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add_item.validator
    def _check_item(self, item: str) -> None:
        if not item:
            raise ApplicationError("an item needs a name", type="EmptyItem")

    @workflow.update
    async def add_shouted(self, item: str) -> str:
        # Spans workflow tasks: accepted in one, completed in a later one.
        loud = await workflow.execute_activity(shout, item, start_to_close_timeout=timedelta(seconds=30))
        self.items.append(loud)
        return loud

    @workflow.update
    def broken(self) -> None:
        raise ApplicationError("this update always fails", type="Broken")

    @workflow.update
    def checkout(self) -> int:
        self.done = True
        return len(self.items)

    @workflow.query
    def contents(self) -> list[str]:
        return list(self.items)


UPDATE_WORKFLOWS = [CartWorkflow]
UPDATE_ACTIVITIES = [shout]
QUERY_WORKFLOWS.append(CartWorkflow)


def _update_events(history: list[Any]) -> list[tuple[str, str]]:
    return [
        (e.event_type, e.attributes.update_id)
        for e in history
        if e.event_type.startswith("WorkflowExecutionUpdate")
    ]


async def _update_fails(coro, message: str) -> None:  # type: ignore[no-untyped-def]
    try:
        await coro
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError) and message in str(exc.cause), exc.cause
        return
    raise AssertionError("the update must fail")


async def updates(client: Client) -> None:
    """Accepted updates are recorded (Accepted, then Completed with the result); rejected ones
    leave no event at all; the same update id is applied once; a handler may span tasks; the
    accepted updates replay (a query on the closed run sees their effects)."""
    handle = await client.start_workflow(
        CartWorkflow.run, id=f"cart-{uuid.uuid4()}", task_queue=QUERY_TASK_QUEUE
    )
    await _completed_tasks(handle, 1)

    assert await handle.execute_update(CartWorkflow.add_item, "apple") == 1
    history = list((await handle.fetch_history()).events)
    accepted = [e for e in history if e.event_type == "WorkflowExecutionUpdateAccepted"]
    completed = [e for e in history if e.event_type == "WorkflowExecutionUpdateCompleted"]
    assert len(accepted) == 1 and len(completed) == 1
    assert accepted[0].attributes.name == "add_item"  # type: ignore[union-attr]
    assert completed[0].attributes.accepted_event_id == accepted[0].event_id  # type: ignore[union-attr]
    assert completed[0].attributes.result[0].data == 1  # type: ignore[union-attr]

    # Rejections (by the validator, or an unknown update) write nothing: not even a workflow task.
    before = await _events(handle)
    await _update_fails(handle.execute_update(CartWorkflow.add_item, ""), "an item needs a name")
    await _update_fails(handle.execute_update("no_such_update", 1), "unknown update")
    assert await _events(handle) == before

    # The same update id twice: applied once, the second call gets the first outcome.
    assert await handle.execute_update(CartWorkflow.add_item, "pear", id="pear-1") == 2
    assert await handle.execute_update(CartWorkflow.add_item, "pear", id="pear-1") == 2
    assert await handle.query(CartWorkflow.contents) == ["apple", "pear"]

    slow = await handle.start_update(
        CartWorkflow.add_shouted, "kiwi", wait_for_stage=WorkflowUpdateStage.ACCEPTED, id="kiwi-1"
    )
    assert slow.id == "kiwi-1"
    assert await slow.result() == "KIWI!"
    assert await handle.get_update_handle("kiwi-1").result() == "KIWI!"

    await _update_fails(handle.execute_update(CartWorkflow.broken), "this update always fails")
    assert await handle.execute_update(CartWorkflow.checkout) == 3
    assert await handle.result() == ["apple", "pear", "KIWI!"]

    history = list((await handle.fetch_history()).events)
    kinds = _update_events(history)
    ids = [i for _, i in kinds]
    assert ids.count("pear-1") == 2 and ids.count("kiwi-1") == 2  # accepted + completed, once each
    assert len([k for k, _ in kinds if k == "WorkflowExecutionUpdateAccepted"]) == 5
    failed = [
        e
        for e in history
        if e.event_type == "WorkflowExecutionUpdateCompleted" and e.attributes.failure is not None  # type: ignore[union-attr]
    ]
    assert len(failed) == 1 and "always fails" in failed[0].attributes.failure.message  # type: ignore[union-attr]
    # Replaying the closed run re-runs the accepted updates (and only those).
    assert await handle.query(CartWorkflow.contents) == ["apple", "pear", "KIWI!"]
    try:
        await handle.execute_update(CartWorkflow.add_item, "late")
    except RPCError as exc:
        assert exc.status == "not_found"
    else:
        raise AssertionError("a closed workflow takes no updates")
