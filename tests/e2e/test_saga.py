"""The saga helper on the embedded server: compensations run newest first after a failure."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from tidal import activity, workflow
from tidal.client import Client
from tidal.exceptions import ActivityError, ApplicationError, WorkflowFailureError
from tidal.saga import Saga, SagaCompensationError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

T = timedelta(seconds=30)
CALLS: list[str] = []


@activity.defn
async def step(name: str) -> str:
    CALLS.append(name)
    if name.startswith("fail"):
        raise ApplicationError(f"{name} failed", non_retryable=True)
    return name


@workflow.defn
class Trip:
    @workflow.run
    async def run(self, fail_at: str, fail_undo: bool) -> str:
        async with Saga() as saga:
            for part in ("hotel", "flight", "car"):
                name = "fail-" + part if part == fail_at else "book-" + part
                await workflow.execute_activity(step, name, start_to_close_timeout=T)
                undo = "fail-undo-" + part if fail_undo and part == "hotel" else "undo-" + part
                saga.add_compensation(workflow.execute_activity, step, undo, start_to_close_timeout=T)
        return "booked"


async def _run(client: Client, fail_at: str, fail_undo: bool = False) -> str:
    handle = await client.start_workflow(
        Trip.run, args=[fail_at, fail_undo], id=f"trip-{uuid.uuid4()}", task_queue="saga"
    )
    return await handle.result()


async def saga_scenario(client: Client) -> None:
    async with Worker(client, task_queue="saga", workflows=[Trip], activities=[step]):
        CALLS.clear()
        assert await _run(client, fail_at="none") == "booked"
        assert CALLS == ["book-hotel", "book-flight", "book-car"]

        CALLS.clear()
        with pytest.raises(WorkflowFailureError) as info:
            await _run(client, fail_at="car")
        assert isinstance(info.value.cause, ActivityError)
        assert CALLS == ["book-hotel", "book-flight", "fail-car", "undo-flight", "undo-hotel"]

        CALLS.clear()
        with pytest.raises(WorkflowFailureError) as info:
            await _run(client, fail_at="car", fail_undo=True)
        # The failed compensation is reported (its own type) and the others still ran.
        assert CALLS == ["book-hotel", "book-flight", "fail-car", "undo-flight", "fail-undo-hotel"]
        assert "compensation" in str(info.value.cause)


async def test_compensations_run_in_reverse_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        await saga_scenario(env.client)
    finally:
        await env.shutdown()


async def test_compensations_run_in_reverse_on_the_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await saga_scenario(client)
    finally:
        await client.close()


def test_saga_compensation_error_carries_the_errors() -> None:
    err = SagaCompensationError("x", errors=[ValueError("a")])
    assert isinstance(err.errors[0], ValueError)
