"""`execute_workflow`'s start that waits for the result (`wait_for_result`, session 12) while the
run changes under it (durable, session 13), embedded: a run that continues as new during the wait
gives the last run's result (as `result()` follows runs); a terminate or a cancel during the wait
raises as the closed run says; a retry of a start whose run already closed (same request id)
answers that run's result and starts nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from tidal import workflow
from tidal.client import WorkflowHandle
from tidal.exceptions import CancelledError, RPCError, TerminatedError, WorkflowFailureError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.polling import until

QUEUE = "execute-wait-hostile"


@workflow.defn
class ChainWorkflow:
    """Continues as new until `n` reaches 0, then returns how many runs it took."""

    @workflow.run
    async def run(self, n: int, runs: int = 1) -> int:
        if n > 0:
            await workflow.sleep(timedelta(milliseconds=50))
            workflow.continue_as_new(args=[n - 1, runs + 1])
        return runs


@workflow.defn
class WaitsWorkflow:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "done"

    @workflow.signal
    def release(self) -> None:
        self.go = True


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_local()
    yield e
    await e.shutdown()


async def test_a_run_continued_as_new_during_the_wait_gives_the_last_runs_result(
    env: WorkflowEnvironment,
) -> None:
    async with Worker(env.client, task_queue=QUEUE, workflows=[ChainWorkflow]):
        got = await env.client.execute_workflow(
            ChainWorkflow.run, 3, id=f"chain-{uuid.uuid4()}", task_queue=QUEUE
        )
    assert got == 4


@pytest.mark.parametrize("how", ["terminate", "cancel"])
async def test_a_run_closed_by_another_client_during_the_wait_raises(
    env: WorkflowEnvironment, how: str
) -> None:
    workflow_id = f"waits-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=QUEUE, workflows=[WaitsWorkflow]):
        waiting = asyncio.ensure_future(
            env.client.execute_workflow(WaitsWorkflow.run, id=workflow_id, task_queue=QUEUE)
        )
        handle = env.client.get_workflow_handle(workflow_id)
        await _until_running(handle)
        if how == "terminate":
            await handle.terminate("by another client")
        else:
            await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(waiting, 30)
    assert isinstance(failed.value.cause, TerminatedError if how == "terminate" else CancelledError)


async def test_a_retried_start_of_a_closed_run_answers_its_result_and_starts_nothing(
    env: WorkflowEnvironment,
) -> None:
    workflow_id = f"waits-{uuid.uuid4()}"
    request_id = str(uuid.uuid4())
    async with Worker(env.client, task_queue=QUEUE, workflows=[WaitsWorkflow]):
        first = await env.client.start_workflow(
            WaitsWorkflow.run, id=workflow_id, task_queue=QUEUE, request_id=request_id
        )
        await first.signal(WaitsWorkflow.release)
        assert await first.result() == "done"
        # The client lost the answer of its start and retries it (same request id) with the wait.
        again = await env.client.execute_workflow(
            WaitsWorkflow.run, id=workflow_id, task_queue=QUEUE, request_id=request_id
        )
    assert again == "done"
    runs = [e async for e in env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert [r.run_id for r in runs] == [first.run_id]


async def _until_running(handle: WorkflowHandle[Any]) -> None:
    async def started() -> bool:
        try:
            await handle.describe()
        except RPCError:
            return False
        return True

    await until(started, what="the run to start", deadline=30, interval=0.01)
