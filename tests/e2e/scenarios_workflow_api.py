"""temporalio's `workflow.*` API on a real worker (issue 11): handlers set at run time (signals
sent before the handler exists are kept for it), dynamic queries, an update handler set by the
run method receiving the update that started the run, `@workflow.init`, and dynamic workflows.
Run embedded and on the real stack by tests/e2e/test_workflow_api.py; written as temporalio code
would be (only the import lines differ)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowIDConflictPolicy,
    WorkflowQueryFailedError,
)
from tidal.common import RawValue, RetryPolicy, WorkflowIDReusePolicy
from tidal.exceptions import ApplicationError, WorkflowAlreadyStartedError

TASK_QUEUE = "e2e-workflow-api"
DEADLINE = 60.0


@workflow.defn
class LateHandlers:
    def __init__(self) -> None:
        self.open = False
        self.notes: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.open)
        # Notes signalled before this line were kept for this handler and arrive now, in order.
        workflow.set_signal_handler("note", self.notes.append)
        workflow.set_query_handler("notes", lambda: list(self.notes))
        workflow.set_dynamic_query_handler(lambda name, args: f"no query {name} ({len(args)} args)")

        def add(note: str) -> int:
            self.notes.append(note)
            return len(self.notes)

        workflow.set_update_handler("add", add)
        await workflow.wait_condition(lambda: "done" in self.notes)
        return self.notes

    @workflow.signal
    def open_up(self) -> None:
        self.open = True


@workflow.defn
class HandlerFromTheStart:
    @workflow.init
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.finished = False

    @workflow.run
    async def run(self, prefix: str) -> str:
        def greet(name: str) -> str:
            self.finished = True
            info = workflow.current_update_info()
            assert info is not None and info.name == "greet"
            return f"{self.prefix} {name}"

        workflow.set_update_handler("greet", greet)
        await workflow.wait_condition(lambda: self.finished)
        return "finished"


@workflow.defn(dynamic=True)
class AnyWorkflow:
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> str:
        values = [workflow.payload_converter().from_payload(a.payload, int) for a in args]
        return f"{workflow.info().workflow_type}:{sum(values)}"


class Greeter:
    """temporalio's activity class: the worker registers an instance's methods."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @activity.defn
    async def greet(self, name: str) -> str:
        return f"{self.greeting} {name}"


@activity.defn
class Shout:
    """temporalio's callable activity class: the worker registers an instance."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    async def __call__(self, text: str) -> str:
        return text.upper() + self.suffix


@workflow.defn
class ActivityForms:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        config = workflow.ActivityConfig(start_to_close_timeout=timedelta(seconds=30))
        greeted = await workflow.execute_activity_method(Greeter.greet, name, summary="greet", **config)
        shouted = await workflow.execute_activity_class(Shout, greeted, summary="shout", **config)
        local_config = workflow.LocalActivityConfig(start_to_close_timeout=timedelta(seconds=30))
        local = await workflow.execute_local_activity_method(
            Greeter.greet, "again", summary="local greet", **local_config
        )
        await workflow.sleep(0.01, summary="a short nap")
        try:
            await workflow.wait_condition(lambda: False, timeout=0.01, timeout_summary="never")
        except TimeoutError:
            pass
        return [greeted, shouted, local]


@workflow.defn
class OptionsChild:
    @workflow.run
    async def run(self) -> dict[str, object]:
        info = workflow.info()
        if info.attempt < 2:
            raise ApplicationError("the first attempt fails; the child's retry policy retries it")
        assert info.retry_policy is not None
        return {
            "attempt": info.attempt,
            "maximum_attempts": info.retry_policy.maximum_attempts,
            "memo": workflow.memo(),
            "search_attributes": dict(info.search_attributes),
        }


@workflow.defn
class OptionsParent:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, object]:
        out: dict[str, object] = await workflow.execute_child_workflow(
            OptionsChild.run,
            id=child_id,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=3),
            memo={"order": "o-1"},
            search_attributes={"CustomerId": "c-7"},
            static_summary="a child with options",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            await workflow.start_child_workflow(
                OptionsChild.run, id=child_id, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
            )
            out["again"] = "started"
        except WorkflowAlreadyStartedError:
            out["again"] = "rejected"
        return out


@workflow.defn
class Chain:
    @workflow.run
    async def run(self, step: int) -> dict[str, object]:
        info = workflow.info()
        if step == 0:
            workflow.continue_as_new(
                1,
                memo={"stage": "one"},
                search_attributes={"CustomerId": "c-9"},
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=2),
                backoff_start_interval=timedelta(milliseconds=300),
            )
        if step == 1:
            # No options: the next run keeps this one's memo, search attributes and retry policy.
            workflow.continue_as_new(2)
        if info.attempt == 1:
            raise ApplicationError("first attempt of step 2 fails")
        last = workflow.get_last_failure()
        assert info.retry_policy is not None
        return {
            "memo": workflow.memo(),
            "search_attributes": dict(info.search_attributes),
            "maximum_attempts": info.retry_policy.maximum_attempts,
            "attempt": info.attempt,
            "last_failure": str(last) if last else None,
            "has_last_completion_result": workflow.has_last_completion_result(),
        }


@workflow.defn
class RootLeaf:
    @workflow.run
    async def run(self) -> list[str | None]:
        info = workflow.info()
        root = info.root
        assert info.workflow_start_time <= info.start_time
        return [root.workflow_id if root else None, root.run_id if root else None]


@workflow.defn
class RootMiddle:
    @workflow.run
    async def run(self, leaf_id: str) -> list[str | None]:
        info = workflow.info()
        assert info.root is not None and info.parent is not None
        assert info.root.workflow_id == info.parent.workflow_id  # the parent is the root here
        return await workflow.execute_child_workflow(RootLeaf.run, id=leaf_id)


@workflow.defn
class RootTop:
    @workflow.run
    async def run(self, leaf_id: str) -> list[str | None]:
        assert workflow.info().root is None  # no parent: no root, as in Temporal
        return await workflow.execute_child_workflow(RootMiddle.run, leaf_id, id=f"{leaf_id}-middle")


@workflow.defn
class Cancellable:
    @workflow.run
    async def run(self) -> str | None:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            return workflow.cancellation_reason()
        return None


@workflow.defn
class Canceller:
    @workflow.run
    async def run(self, target: str) -> None:
        await workflow.get_external_workflow_handle(target).cancel(reason="stop now")


WORKFLOWS = [
    Cancellable,
    Canceller,
    RootLeaf,
    RootMiddle,
    RootTop,
    LateHandlers,
    HandlerFromTheStart,
    AnyWorkflow,
    ActivityForms,
    OptionsParent,
    OptionsChild,
    Chain,
]
ACTIVITIES = [Greeter("hello").greet, Shout("!")]


async def handlers_set_at_run_time(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(LateHandlers.run, id=f"late-{uuid.uuid4()}", task_queue=task_queue)
    await handle.signal("note", "a")
    await handle.signal("note", "b")
    await handle.signal(LateHandlers.open_up)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:  # the query handler exists once the run passed its wait
        try:
            notes = await handle.query("notes")
            break
        except WorkflowQueryFailedError:
            assert loop.time() < deadline, "the query handler was never set"
            await asyncio.sleep(0.05)
    assert notes == ["a", "b"]
    assert await handle.query("other", 1) == "no query other (1 args)"
    assert await handle.execute_update("add", "c") == 3
    await handle.signal("note", "done")
    assert await asyncio.wait_for(handle.result(), DEADLINE) == ["a", "b", "c", "done"]


async def update_handler_set_by_run_gets_the_starting_update(client: Client, task_queue: str) -> None:
    # Before: the update reached the run's first task before `run` set its handler and was
    # rejected as unknown.
    start = WithStartWorkflowOperation(
        HandlerFromTheStart.run,
        "hello",
        id=f"from-start-{uuid.uuid4()}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    result = await asyncio.wait_for(
        client.execute_update_with_start_workflow("greet", "ada", start_workflow_operation=start), DEADLINE
    )
    assert result == "hello ada"
    handle = await start.workflow_handle()
    assert await asyncio.wait_for(handle.result(), DEADLINE) == "finished"


async def dynamic_workflow(client: Client, task_queue: str) -> None:
    result = await asyncio.wait_for(
        client.execute_workflow(
            "NoSuchTypeRegistered", args=[2, 3], id=f"dyn-{uuid.uuid4()}", task_queue=task_queue
        ),
        DEADLINE,
    )
    assert result == "NoSuchTypeRegistered:5"


async def activity_forms_and_summaries(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        ActivityForms.run, "ada", id=f"forms-{uuid.uuid4()}", task_queue=task_queue
    )
    assert await asyncio.wait_for(handle.result(), DEADLINE) == ["hello ada", "HELLO ADA!", "hello again"]
    history = await handle.fetch_history()
    summaries = [
        (e.event_type, getattr(e.attributes, "summary", None))
        for e in history.events
        if e.event_type in ("ActivityTaskScheduled", "TimerStarted", "MarkerRecorded")
    ]
    # The user metadata reaches history on each command's event (temporalio's user_metadata).
    assert summaries == [
        ("ActivityTaskScheduled", "greet"),
        ("ActivityTaskScheduled", "shout"),
        ("MarkerRecorded", "local greet"),
        ("TimerStarted", "a short nap"),
        ("TimerStarted", "never"),
    ]


async def child_start_options(client: Client, task_queue: str) -> None:
    # Before: start_child_workflow took none of these options (TypeError in the parent).
    child_id = f"child-opts-{uuid.uuid4()}"
    handle = await client.start_workflow(
        OptionsParent.run, child_id, id=f"parent-opts-{uuid.uuid4()}", task_queue=task_queue
    )
    assert await asyncio.wait_for(handle.result(), DEADLINE) == {
        "attempt": 2,
        "maximum_attempts": 3,
        "memo": {"order": "o-1"},
        "search_attributes": {"CustomerId": "c-7"},
        "again": "rejected",
    }
    child = await client.get_workflow_handle(child_id).describe()
    assert child.search_attributes == {"CustomerId": "c-7"}
    assert await child.static_summary() == "a child with options"
    assert child.parent_id == handle.id


async def continue_as_new_options(client: Client, task_queue: str) -> None:
    # Before: continue_as_new took none of these, and a successor lost the memo and retry policy.
    handle = await client.start_workflow(
        Chain.run, 0, id=f"chain-{uuid.uuid4()}", task_queue=task_queue, memo={"stage": "zero"}
    )
    assert await asyncio.wait_for(handle.result(), DEADLINE) == {
        "memo": {"stage": "one"},
        "search_attributes": {"CustomerId": "c-9"},
        "maximum_attempts": 2,
        "attempt": 2,
        "last_failure": "first attempt of step 2 fails",
        "has_last_completion_result": False,
    }
    # The first successor waited for backoff_start_interval before its first workflow task.
    first = await client.get_workflow_handle(handle.id, run_id=handle.result_run_id).fetch_history()
    continued = first.events[-1].attributes
    assert continued.type == "WorkflowExecutionContinuedAsNew"
    second = client.get_workflow_handle(handle.id, run_id=continued.new_execution_run_id)
    events = (await second.fetch_history()).events
    started = events[0].attributes
    assert started.type == "WorkflowExecutionStarted"
    assert started.first_workflow_task_backoff == timedelta(milliseconds=300)
    task = next(e for e in events if e.event_type == "WorkflowTaskScheduled")
    assert task.event_time - events[0].event_time >= timedelta(milliseconds=300)


async def root_info(client: Client, task_queue: str) -> None:
    # Before: workflow.info() had no root; a grandchild could not name the top of its chain.
    leaf = f"leaf-{uuid.uuid4()}"
    handle = await client.start_workflow(RootTop.run, leaf, id=f"top-{uuid.uuid4()}", task_queue=task_queue)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == [handle.id, handle.result_run_id]


async def external_cancel_with_reason(client: Client, task_queue: str) -> None:
    # Before: ExternalWorkflowHandle.cancel took no reason; the target saw "requested by workflow".
    target = await client.start_workflow(Cancellable.run, id=f"target-{uuid.uuid4()}", task_queue=task_queue)
    await asyncio.wait_for(
        client.execute_workflow(
            Canceller.run, target.id, id=f"canceller-{uuid.uuid4()}", task_queue=task_queue
        ),
        DEADLINE,
    )
    assert await asyncio.wait_for(target.result(), DEADLINE) == "stop now"
