"""Local activities: run inside the workflow task that scheduled them, retried in this worker
with their retry policy (docs/activities.md). Part of the workflow half of a worker."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from tidal_schema import Failure, RetryPolicy
from tidal_schema.messages import WorkflowTask

from . import activity as _activity
from . import common as _common
from ._activity_worker import to_failure
from ._interceptors import ExecuteActivityInput, Interceptor, activity_chain
from ._runtime.local_activities import LocalActivityOutcome, LocalActivityRequest
from .converter import ActivitySerializationContext, DataConverter
from .exceptions import ApplicationError

__all__ = ["run_local_activity"]


async def run_local_activity(
    req: LocalActivityRequest,
    *,
    task: WorkflowTask,
    activities: Mapping[str, _activity.ActivityDefinition],
    executor: concurrent.futures.Executor | None,
    converter: DataConverter,
    interceptors: Sequence[Interceptor] = (),
) -> LocalActivityOutcome:
    """Run one local activity with its retry policy, retrying in this worker (the backoff sleeps
    are the retry delay itself) until it succeeds, may not retry, or its time is up: the
    schedule-to-close timeout, capped by the local retry threshold."""
    converter = converter.with_context(
        ActivitySerializationContext(
            namespace=task.namespace,
            activity_id=req.activity_id,
            activity_type=req.activity_type,
            activity_task_queue=task.task_queue,
            workflow_id=task.workflow_id,
            workflow_type=task.workflow_type,
            is_local=True,
        )
    )
    defn = _activity._lookup(activities, req.activity_type)
    if defn is None:
        known = ", ".join(sorted(activities)) or "none"
        err = ApplicationError(
            f"local activity type {req.activity_type!r} is not registered on this worker "
            f"(registered: {known})",
            type="NotFoundError",
            non_retryable=True,
        )
        return LocalActivityOutcome(
            seq=req.seq, attempt=1, failure=to_failure(converter, err), retry_state="NonRetryableFailure"
        )
    policy = req.retry_policy or RetryPolicy()
    loop = asyncio.get_running_loop()
    started = loop.time()
    budget = req.local_retry_threshold
    if req.schedule_to_close_timeout is not None:
        budget = min(budget, req.schedule_to_close_timeout)
    attempt = 1
    while True:
        info = _local_info(req, task, attempt, loop.time() - started, converter)
        ctx = _activity._Context(info=info)
        token = _activity._set_context(ctx)
        try:
            timeout = req.start_to_close_timeout or req.schedule_to_close_timeout
            args = defn.arguments(req.input, converter.from_payloads)
            chain = activity_chain(interceptors, ctx, is_async=defn.is_async)
            call = ExecuteActivityInput(fn=defn.fn, args=args, executor=executor, headers=req.headers)
            seconds = timeout.total_seconds() if timeout else None
            # Not asyncio.wait_for: on Python 3.11 it hands back an attempt that failed in the
            # turn this task was cancelled, and the loop then retried it after its cancel.
            async with asyncio.timeout(seconds):
                result = await chain.execute_activity(call)
            return LocalActivityOutcome(
                seq=req.seq, attempt=attempt, result=tuple(converter.to_payloads([result]))
            )
        except Exception as exc:
            failure = to_failure(converter, exc)
        finally:
            _activity._reset_context(token)
        delay, retry_state = _next_local_delay(policy, attempt, failure)
        elapsed = timedelta(seconds=loop.time() - started)
        if delay is not None and elapsed + delay >= budget:
            delay, retry_state = None, "Timeout"
        if delay is None:
            return LocalActivityOutcome(
                seq=req.seq, attempt=attempt, failure=failure, retry_state=retry_state
            )
        await asyncio.sleep(delay.total_seconds())
        attempt += 1


def _next_local_delay(policy: RetryPolicy, attempt: int, failure: Failure) -> tuple[timedelta | None, str]:
    """The server's retry rule (services/history/tidal_history/retry.py), for local retries."""
    if failure.non_retryable or failure.type in policy.non_retryable_error_types:
        return None, "NonRetryableFailure"
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return None, "MaximumAttemptsReached"
    if failure.next_retry_delay is not None:
        return failure.next_retry_delay, ""
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    cap = policy.maximum_interval or policy.initial_interval * 100
    return min(delay, cap), ""


def _local_info(
    req: LocalActivityRequest, task: WorkflowTask, attempt: int, elapsed: float, converter: DataConverter
) -> _activity.Info:
    now = datetime.now(UTC)
    return _activity.Info(
        activity_id=req.activity_id,
        activity_type=req.activity_type,
        attempt=attempt,
        workflow_id=task.workflow_id,
        workflow_run_id=task.run_id,
        workflow_type=task.workflow_type,
        workflow_namespace=task.namespace,
        task_queue=task.task_queue,
        scheduled_time=now - timedelta(seconds=elapsed),
        current_attempt_scheduled_time=now,
        start_to_close_timeout=req.start_to_close_timeout,
        schedule_to_close_timeout=req.schedule_to_close_timeout,
        heartbeat_timeout=None,
        heartbeat_details=(),
        is_local=True,
        namespace=task.namespace,
        started_time=now,
        task_token=b"",
        priority=_common.Priority.default,
        retry_policy=None,
    )
