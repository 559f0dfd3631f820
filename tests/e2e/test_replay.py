"""A history saved from a real run (embedded server) is replayed offline against changed code."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from tidal import workflow
from tidal.client import WorkflowHistory
from tidal.exceptions import NondeterminismError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Replayer, Worker

from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE, GreetingWorkflow, greet


@workflow.defn(name="GreetingWorkflow")
class GreetingWithExtraTimer:
    """A "refactor" that sneaks a durable timer in front of the activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(1)
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


async def test_saved_history_replays_with_the_same_code_and_catches_a_change(tmp_path: Path) -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(
            env.client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
        ):
            handle = await env.client.start_workflow(
                GreetingWorkflow.run, "replay", id=f"replay-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )
            assert await handle.result() == "Hello, replay!"
            history = await handle.fetch_history()
    finally:
        await env.shutdown()

    saved = tmp_path / "history.json"
    saved.write_text(history.to_json())
    loaded = WorkflowHistory.from_json(handle.id, saved.read_text())
    assert [e.event_type for e in loaded.events] == [e.event_type for e in history.events]
    assert loaded.events[-1].event_type == "WorkflowExecutionCompleted"

    await Replayer(workflows=[GreetingWorkflow]).replay_workflow(loaded)
    with pytest.raises(NondeterminismError, match=r"ActivityTaskScheduled.*StartTimer"):
        await Replayer(workflows=[GreetingWithExtraTimer]).replay_workflow(loaded)
