"""An attempt whose outcome cannot be published at once is reported again, not run again.

The chaos suite saw flaky activities' attempts run three times within ~140 ms on one worker with
no fault injected: the worker's publish of the outcome failed, it nacked the task, and the broker
redelivered it at once, so the activity's side effects ran again for a broker hiccup. The worker
now retries the publish with backoff (within the attempt's start-to-close timeout) before giving
the task back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tidal import activity, workflow
from tidal._completion_publisher import CompletionPublisher
from tidal.common import RetryPolicy
from tidal.exceptions import ApplicationError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

TASK_QUEUE = "report-retry"
_runs: dict[str, int] = {}


@activity.defn
async def counted(key: str) -> str:
    _runs[key] = _runs.get(key, 0) + 1
    if key.startswith("fail") and activity.info().attempt == 1:
        raise ApplicationError("first attempt fails on purpose", type="Flaky")
    return key


@workflow.defn
class Counted:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            counted,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


class _FlakyPublishWorker(Worker):
    """Its first `failures` publishes of an activity outcome raise, as a publish does while the
    broker connection is recovering (at the worker's completion publisher, its real one)."""

    def __init__(self, *args: object, failures: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.failures = failures
        self.refused = 0
        counts = self

        class Flaky(CompletionPublisher):
            async def publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
                outcome = b'"type":"CompleteActivityTask"' in body or b'"type":"FailActivityTask"' in body
                if outcome and counts.refused < counts.failures:
                    counts.refused += 1
                    raise ConnectionError("publish refused (test)")
                await super().publish(routing_key, body, **props)

        self._publisher_class = Flaky


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local()
    yield env
    await env.shutdown()


@pytest.mark.parametrize("key", ["complete-once", "fail-then-complete"])
async def test_an_outcome_that_fails_to_publish_is_sent_again_not_run_again(
    env: WorkflowEnvironment, key: str
) -> None:
    _runs.pop(key, None)
    worker = _FlakyPublishWorker(
        env.client, task_queue=TASK_QUEUE, workflows=[Counted], activities=[counted], failures=2
    )
    async with worker:
        result = await env.client.execute_workflow(
            Counted.run, key, id=f"report-retry-{key}", task_queue=TASK_QUEUE
        )
    assert result == key
    assert worker.refused == 2
    # One run per attempt: "fail-then-complete" has two attempts, each run exactly once.
    assert _runs[key] == (2 if key.startswith("fail") else 1)
