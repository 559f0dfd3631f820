"""The fused completion, embedded and on the real stack (scenarios in scenarios_fused.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tidal._completion_publisher import CompletionPublisher
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Replayer

from tests.e2e import scenarios_fused as sf
from tests.support.stack import Stack

Scenario = Callable[[Client, str], Awaitable[None]]


@pytest.fixture
async def embedded_client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", sf.ALL, ids=[s.__name__ for s in sf.ALL])
async def test_embedded(embedded_client: Client, scenario: Scenario) -> None:
    await scenario(embedded_client, f"fused-{scenario.__name__}")


@pytest.mark.shared_stack  # its own task queues and workflow ids
@pytest.mark.parametrize("scenario", sf.ALL, ids=[s.__name__ for s in sf.ALL])
async def test_stack(running: Stack, scenario: Scenario) -> None:
    client = await Client.connect(running.address)
    try:
        await scenario(client, f"fused-stack-{scenario.__name__}")
    finally:
        await client.close()


class _FlakyFusedWorker(sf.FusingWorker):
    """Its first `failures` publishes of a fused completion raise (a broker connection recovering),
    at the worker's real completion publisher."""

    def __init__(self, *args: object, failures: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.failures, self.refused = failures, 0
        counts = self

        class Flaky(CompletionPublisher):
            async def publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
                if b'"workflow_task":{' in body and counts.refused < counts.failures:
                    counts.refused += 1
                    raise ConnectionError("publish refused (test)")
                await super().publish(routing_key, body, **props)

        self._publisher_class = Flaky


@pytest.mark.parametrize("failures", [2, 1_000])
async def test_a_fused_publish_that_fails_is_sent_again_not_run_again(
    embedded_client: Client, failures: int
) -> None:
    """Failing twice: published again, each activity run once. Failing always: the publish is
    retried within the attempt's start-to-close timeout, then the attempt is given back unacked
    and runs again (at least once, as for a plain result): the run still completes, and its
    history replays."""
    queue = f"fused-flaky-{failures}"
    worker = _FlakyFusedWorker(
        embedded_client, task_queue=queue, workflows=[sf.Quick], activities=sf.ACTIVITIES, failures=failures
    )
    wid = f"fused-flaky-{uuid.uuid4()}"
    async with worker:
        assert await embedded_client.execute_workflow(sf.Quick.run, 3, id=wid, task_queue=queue) == 3
    assert worker.refused == min(failures, worker.refused) and worker.refused > 0
    runs = [sf.RUNS[f"{wid}/{i}"] for i in range(3)]
    if failures == 2:
        assert runs == [1, 1, 1]
    else:
        assert all(r >= 1 for r in runs)
    history = await embedded_client.get_workflow_handle(wid).fetch_history()
    await Replayer(workflows=[sf.Quick]).replay_workflow(history)
