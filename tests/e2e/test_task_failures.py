"""Workflow task failures (a bug in workflow code, blocking code) are retried without failing the
workflow, shown by describe(), and configurable to fail the workflow instead (embedded server)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tidal import workflow
from tidal.client import Client, WorkflowExecutionStatus, WorkflowHandle
from tidal.exceptions import WorkflowFailureError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.polling import until
from tests.support.stack import Stack, wait_for

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack


@workflow.defn
class Buggy:
    @workflow.run
    async def run(self) -> str:
        return {"a": 1}["missing"]  # type: ignore[return-value]


@workflow.defn(failure_exception_types=[KeyError])
class BuggyButFatal:
    @workflow.run
    async def run(self) -> str:
        return {"a": 1}["missing"]  # type: ignore[return-value]


@workflow.defn
class Blocking:
    @workflow.run
    async def run(self) -> str:
        time.sleep(1.5)  # noqa: ASYNC251 - the bug under test: blocking the workflow thread
        await workflow.sleep(timedelta(seconds=1))
        return "done"


# Set by the test, read by HeldInWorkflowCode's code on its workflow thread.
_HELD = threading.Event()
_RELEASE = threading.Event()


@workflow.defn
class HeldInWorkflowCode:
    @workflow.run
    async def run(self) -> str:
        _HELD.set()
        released = _RELEASE.wait(timeout=10)  # blocking the workflow thread is the point
        return "released" if released else "never released"


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    yield env
    await env.shutdown()


async def _task_failure(handle: WorkflowHandle[str]) -> dict[str, str]:
    seen: dict[str, str] = {}

    async def failure() -> bool:
        d = await handle.describe()
        assert d.status is WorkflowExecutionStatus.RUNNING
        seen.update(d.raw.get("last_workflow_task_failure") or {})
        return bool(seen)

    await wait_for(failure, timeout=30, what="describe() to show the workflow task failure")
    return seen


async def bug_scenario(client: Client) -> None:
    async with Worker(client, task_queue="bugs", workflows=[Buggy, BuggyButFatal]):
        handle = await client.start_workflow(Buggy.run, id=f"bug-{uuid.uuid4()}", task_queue="bugs")
        failure = await _task_failure(handle)
        assert "missing" in failure["message"] and failure["cause"] == "WorkflowWorkerUnhandledFailure"
        types = [e.event_type for e in (await handle.fetch_history()).events]
        assert "WorkflowTaskFailed" in types and "WorkflowExecutionFailed" not in types
        await handle.terminate("test over")

        fatal = await client.start_workflow(BuggyButFatal.run, id=f"fatal-{uuid.uuid4()}", task_queue="bugs")
        with pytest.raises(WorkflowFailureError) as info:
            await fatal.result()
        assert "missing" in str(info.value.cause)


async def test_a_bug_fails_the_task_not_the_workflow_embedded(env: WorkflowEnvironment) -> None:
    await bug_scenario(env.client)


async def test_a_bug_fails_the_task_not_the_workflow_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await bug_scenario(client)
    finally:
        await client.close()


async def test_blocking_workflow_code_is_reported_as_a_potential_deadlock(env: WorkflowEnvironment) -> None:
    async with Worker(
        env.client, task_queue="blocking", workflows=[Blocking], deadlock_detection_timeout=0.3
    ):
        handle = await env.client.start_workflow(Blocking.run, id=f"dl-{uuid.uuid4()}", task_queue="blocking")
        failure = await _task_failure(handle)
        assert "Potential deadlock detected" in failure["message"]
        assert "time.sleep" in failure["message"]
        await handle.terminate("test over")

    # With detection off (debug_mode), the same code simply runs to completion.
    async with Worker(env.client, task_queue="blocking-debug", workflows=[Blocking], debug_mode=True):
        ok = await env.client.start_workflow(
            Blocking.run, id=f"dbg-{uuid.uuid4()}", task_queue="blocking-debug"
        )
        assert await ok.result() == "done"


async def test_the_loop_runs_while_workflow_code_blocks_past_the_short_wait(env: WorkflowEnvironment) -> None:
    """The worker waits for an activation blocked for at most SYNC_ACTIVATION_WAIT_SECONDS (one
    at a time), then awaits it: workflow code that blocks longer leaves the loop (the whole
    embedded server) running, and still completes under the deadlock timeout. Here the code is
    released only by this test, from the loop."""
    _HELD.clear()
    _RELEASE.clear()
    async with Worker(
        env.client, task_queue="held", workflows=[HeldInWorkflowCode], deadlock_detection_timeout=20
    ):
        handle = await env.client.start_workflow(
            HeldInWorkflowCode.run, id=f"held-{uuid.uuid4()}", task_queue="held"
        )
        await until(_HELD.is_set, what="the workflow code to block")
        # The server still answers while the code is held.
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        _RELEASE.set()
        assert await handle.result() == "released"
