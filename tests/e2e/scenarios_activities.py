"""The activity model end to end (heartbeats, timeouts, retries, cancellation, async completion),
run on the embedded server and on the real stack by tests/e2e/test_activities.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.exceptions import ActivityError, ApplicationError, CancelledError, RPCError, TimeoutError
from tidal_schema import TimeoutType

from tests.support.stack import wait_for

TASK_QUEUE = "e2e-activities"
NOBODY_QUEUE = "e2e-activities-no-worker"

# What activities saw, by key: tests read these to check what really ran.
SEEN: dict[str, list[Any]] = {}
TOKENS: dict[str, bytes] = {}
RUNNING: set[str] = set()


def _seen(key: str, value: Any) -> None:
    SEEN.setdefault(key, []).append(value)


def _describe(exc: BaseException) -> str:
    """The workflow's summary of an activity error: what the tests assert on."""
    assert isinstance(exc, ActivityError)
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        details = f":{list(cause.last_heartbeat_details)}" if cause.last_heartbeat_details else ""
        return f"timeout:{cause.type.value if cause.type else None}:{exc.retry_state}{details}"
    if isinstance(cause, CancelledError):
        details = f":{list(cause.details)}" if cause.details else ""
        return f"cancelled:{exc.retry_state}{details}"
    if isinstance(cause, ApplicationError):
        return f"app:{cause.type}:{cause.message}:{exc.retry_state}"
    return f"other:{cause!r}"


# --- activities -----------------------------------------------------------------------------


@activity.defn
async def resumable(key: str) -> str:
    """Attempt 1 heartbeats for longer than its heartbeat timeout (so the timer must be re-armed),
    then fails; attempt 2 resumes from the last heartbeat's details."""
    info = activity.info()
    if info.attempt == 1:
        RUNNING.add(key)
        deadline = time.monotonic() + 4.0
        step = 0
        while time.monotonic() < deadline:
            step += 1
            activity.heartbeat(f"step-{step}")
            await asyncio.sleep(0.1)
        _seen(key, step)
        raise ApplicationError("crash after heartbeating", type="Crash")
    _seen(key, list(info.heartbeat_details))
    return f"resumed from {info.heartbeat_details[0]} on attempt {info.attempt}"


@activity.defn
async def goes_silent(key: str) -> str:
    """Heartbeats once, then stops (longer than its heartbeat timeout)."""
    _seen(key, activity.info().attempt)
    activity.heartbeat("alive")
    await asyncio.sleep(2.5)
    return "too late"


@activity.defn
async def slow_start(key: str) -> str:
    """Runs longer than its schedule-to-start timeout: the start notice must disarm that timer."""
    await asyncio.sleep(3)
    return f"started in time: {key}"


@activity.defn
async def cancellable(key: str) -> str:
    """Heartbeats until cancelled; records that it saw the cancellation."""
    RUNNING.add(key)
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        _seen(key, f"cancelled:{activity.is_cancelled()}")
        raise


@activity.defn
def cancellable_sync(key: str) -> str:
    """A sync activity on the worker's executor: polls is_cancelled() between heartbeats."""
    RUNNING.add(key)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        activity.heartbeat()
        if activity.is_cancelled():
            _seen(key, "sync-cancelled")
            raise CancelledError("stopped on request", "partial")
        activity.wait_for_cancelled_sync(0.1)
    return "never cancelled"


RELEASE: dict[str, asyncio.Event] = {}


@activity.defn
async def quiet(key: str) -> str:
    """Runs without heartbeats until released (the worker runs in the test's process): only the
    worker's delayed start notice tells history it started."""
    RUNNING.add(key)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(RELEASE.setdefault(key, asyncio.Event()).wait(), 60)
    return f"released {key}"


@activity.defn
async def completes_later(key: str) -> str:
    TOKENS[key] = activity.info().task_token
    activity.raise_complete_async()


@activity.defn
async def fails_with(key: str, error_type: str, delay_ms: int) -> str:
    attempt = activity.info().attempt
    _seen(key, attempt)
    if error_type == "ok" or (error_type == "then-ok" and attempt >= 2):
        return f"ok on attempt {attempt}"
    retry = timedelta(milliseconds=delay_ms) if delay_ms else None
    raise ApplicationError(f"failed on attempt {attempt}", type=error_type, next_retry_delay=retry)


@activity.defn
async def local_step(key: str) -> str:
    assert activity.info().is_local
    _seen(f"{key}:step", activity.info().attempt)
    return f"step({key})"


@activity.defn
async def local_flaky(key: str) -> str:
    attempt = activity.info().attempt
    _seen(f"{key}:flaky", attempt)
    if attempt < 3:
        raise ApplicationError(f"local attempt {attempt} failed", type="Flaky")
    return f"flaky ok on attempt {attempt}"


@activity.defn
async def local_fatal(key: str) -> str:
    _seen(f"{key}:fatal", activity.info().attempt)
    raise ApplicationError("no way", type="Fatal", non_retryable=True)


LOCAL_QUEUE = "e2e-activities-local"
LOCAL_ACTIVITIES = [local_step, local_flaky, local_fatal]


ACTIVITIES = [
    resumable,
    goes_silent,
    slow_start,
    cancellable,
    cancellable_sync,
    completes_later,
    fails_with,
    quiet,
]


# --- workflows ------------------------------------------------------------------------------


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            resumable,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


@workflow.defn
class TimeoutWorkflow:
    """kind: "heartbeat" or "schedule_to_start" (on a queue no worker polls) or "started"."""

    @workflow.run
    async def run(self, key: str, kind: str) -> str:
        try:
            if kind == "heartbeat":
                return await workflow.execute_activity(
                    goes_silent,
                    key,
                    start_to_close_timeout=timedelta(seconds=30),
                    heartbeat_timeout=timedelta(seconds=1),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(milliseconds=100), maximum_attempts=2
                    ),
                )
            return await workflow.execute_activity(
                slow_start,
                key,
                task_queue=NOBODY_QUEUE if kind == "schedule_to_start" else None,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_start_timeout=timedelta(seconds=2),
            )
        except ActivityError as e:
            return _describe(e)


@workflow.defn
class CancelActivityWorkflow:
    @workflow.run
    async def run(self, key: str, mode: str, sync: bool) -> str:
        handle = workflow.start_activity(
            cancellable_sync if sync else cancellable,
            key,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=3),
            cancellation_type=workflow.ActivityCancellationType[mode],
        )
        await workflow.wait_condition(lambda: self.go)
        handle.cancel()
        try:
            return f"returned:{await handle}"
        except ActivityError as e:
            return _describe(e)
        except asyncio.CancelledError:
            return "cancelled at once"

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def cancel_it(self) -> None:
        self.go = True


@workflow.defn
class AsyncCompletionWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        try:
            return await workflow.execute_activity(
                completes_later,
                key,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as e:
            return _describe(e)


@workflow.defn
class RetryPolicyWorkflow:
    @workflow.run
    async def run(self, key: str, error_type: str, delay_ms: int, policy: dict[str, Any]) -> str:
        try:
            return await workflow.execute_activity(
                fails_with,
                args=[key, error_type, delay_ms],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=policy.get("initial", 1.0)),
                    backoff_coefficient=policy.get("coefficient", 2.0),
                    maximum_interval=timedelta(seconds=policy["maximum"]) if "maximum" in policy else None,
                    maximum_attempts=policy.get("attempts", 0),
                    non_retryable_error_types=policy.get("non_retryable", []),
                ),
            )
        except ActivityError as e:
            return _describe(e)


@workflow.defn
class QuietWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(quiet, key, start_to_close_timeout=timedelta(seconds=90))


@workflow.defn
class LocalActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        first = await workflow.execute_local_activity(
            local_step, key, start_to_close_timeout=timedelta(seconds=5)
        )
        await workflow.sleep(0.2)  # a new workflow task, which replays the one above
        second = await workflow.execute_local_activity(
            local_flaky,
            key,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )
        try:
            await workflow.execute_local_activity(
                local_fatal, key, start_to_close_timeout=timedelta(seconds=5)
            )
            third = "no error"
        except ActivityError as e:
            third = _describe(e)
        return f"{first}|{second}|{third}"


WORKFLOWS = [
    HeartbeatWorkflow,
    TimeoutWorkflow,
    CancelActivityWorkflow,
    AsyncCompletionWorkflow,
    RetryPolicyWorkflow,
    QuietWorkflow,
]


# --- scenarios ------------------------------------------------------------------------------


async def _types(handle: Any) -> list[str]:
    return [e.event_type for e in (await handle.fetch_history()).events]


def _contiguous(events: Any) -> bool:
    return [e.event_id for e in events] == list(range(1, len(events) + 1))


async def heartbeat_details_reach_the_next_attempt(client: Client) -> None:
    key = f"hb-{uuid.uuid4()}"
    handle = await client.start_workflow(HeartbeatWorkflow.run, key, id=key, task_queue=TASK_QUEUE)
    result = await handle.result()
    # Attempt 1 heartbeated for 4 s with a 3 s heartbeat timeout and was not timed out; its last
    # details reached attempt 2 (throttled heartbeats not sent yet go with the failure report).
    steps, details = SEEN[key]
    assert steps >= 30
    assert details == [f"step-{steps}"]
    assert result == f"resumed from step-{steps} on attempt 2"
    history = (await handle.fetch_history()).events
    assert _contiguous(history)
    started = [e for e in history if e.event_type == "ActivityTaskStarted"]
    assert len(started) == 1 and started[0].attributes.attempt == 2  # type: ignore[union-attr]
    assert started[0].attributes.last_failure.type == "Crash"  # type: ignore[union-attr]
    assert "ActivityTaskTimedOut" not in [e.event_type for e in history]


async def heartbeat_timeout(client: Client) -> None:
    key = f"hbt-{uuid.uuid4()}"
    handle = await client.start_workflow(
        TimeoutWorkflow.run, args=[key, "heartbeat"], id=key, task_queue=TASK_QUEUE
    )
    # The last heartbeat's details come with the timeout (TimeoutError.last_heartbeat_details).
    assert await handle.result() == "timeout:Heartbeat:Timeout:['alive']"
    assert SEEN[key] == [1, 2]  # timed out, retried once (maximum_attempts=2), timed out again
    history = (await handle.fetch_history()).events
    timed_out = [e for e in history if e.event_type == "ActivityTaskTimedOut"]
    assert len(timed_out) == 1
    assert timed_out[0].attributes.failure.timeout_type == "Heartbeat"  # type: ignore[union-attr]
    started = [e for e in history if e.event_type == "ActivityTaskStarted"]
    assert started[0].attributes.attempt == 2  # type: ignore[union-attr]


async def schedule_to_start_timeout(client: Client) -> None:
    key = f"s2s-{uuid.uuid4()}"
    handle = await client.start_workflow(
        TimeoutWorkflow.run, args=[key, "schedule_to_start"], id=key, task_queue=TASK_QUEUE
    )
    assert await handle.result() == f"timeout:{TimeoutType.SCHEDULE_TO_START.value}:Timeout"
    history = (await handle.fetch_history()).events
    timed_out = [e for e in history if e.event_type == "ActivityTaskTimedOut"]
    assert timed_out[0].attributes.failure.timeout_type == "ScheduleToStart"  # type: ignore[union-attr]
    started = [e for e in history if e.event_type == "ActivityTaskStarted"]
    assert started[0].attributes.attempt == 1  # type: ignore[union-attr]  (never retried)
    # Picked up in time: the start notice disarms the timer although the activity runs longer.
    key2 = f"s2s-ok-{uuid.uuid4()}"
    ok = await client.start_workflow(
        TimeoutWorkflow.run, args=[key2, "started"], id=key2, task_queue=TASK_QUEUE
    )
    assert await ok.result() == f"started in time: {key2}"
    assert "ActivityTaskCompleted" in await _types(ok)


async def _cancel(client: Client, mode: str, *, sync: bool = False) -> tuple[str, list[str], str]:
    key = f"cancel-{mode.lower()}-{'sync' if sync else 'async'}-{uuid.uuid4()}"
    handle = await client.start_workflow(
        CancelActivityWorkflow.run, args=[key, mode, sync], id=key, task_queue=TASK_QUEUE
    )
    await wait_for(lambda: key in RUNNING, timeout=30, what="the activity to run")
    await handle.signal(CancelActivityWorkflow.cancel_it)
    result = await handle.result()
    return result, await _types(handle), key


async def cancel_wait_cancellation_completed(client: Client) -> None:
    for sync in (False, True):
        result, types, key = await _cancel(client, "WAIT_CANCELLATION_COMPLETED", sync=sync)
        assert result == ("cancelled:None:['partial']" if sync else "cancelled:None"), result
        assert SEEN[key] == ["sync-cancelled" if sync else "cancelled:True"]
        # The workflow waited for the activity to report: its outcome precedes the workflow's end.
        i = types.index("ActivityTaskCancelRequested")
        assert types[i:].count("ActivityTaskCanceled") == 1
        assert types.index("ActivityTaskCanceled") < types.index("WorkflowExecutionCompleted")


async def cancel_try_cancel(client: Client) -> None:
    result, types, key = await _cancel(client, "TRY_CANCEL")
    assert result == "cancelled at once"
    assert "ActivityTaskCancelRequested" in types and types[-1] == "WorkflowExecutionCompleted"
    # The activity is still told (on its next heartbeat: cancel requested, or its run is gone).
    await wait_for(lambda: key in SEEN, timeout=30, what="the activity to see its cancellation")
    assert SEEN[key] == ["cancelled:True"]


async def cancel_abandon(client: Client) -> None:
    result, types, key = await _cancel(client, "ABANDON")
    assert result == "cancelled at once"
    assert "ActivityTaskCancelRequested" not in types and types[-1] == "WorkflowExecutionCompleted"
    # Nobody asked the activity to stop; it learns only that its run has closed.
    await wait_for(lambda: key in SEEN, timeout=30, what="the abandoned activity to stop")


async def async_completion(client: Client) -> None:
    key = f"async-{uuid.uuid4()}"
    handle = await client.start_workflow(AsyncCompletionWorkflow.run, key, id=key, task_queue=TASK_QUEUE)
    await wait_for(lambda: key in TOKENS, timeout=30, what="the activity to hand out its task token")
    ah = client.get_async_activity_handle(task_token=TOKENS[key])
    await ah.heartbeat("half way")
    await ah.complete(f"completed from outside: {key}")
    assert await handle.result() == f"completed from outside: {key}"
    try:
        await ah.complete("twice")
    except RPCError as e:
        assert e.status == "not_found"
    else:
        raise AssertionError("completing a finished activity must fail")
    types = await _types(handle)
    assert types[types.index("ActivityTaskStarted") + 1] == "ActivityTaskCompleted"
    # fail() with a non-retryable error
    key2 = f"async-fail-{uuid.uuid4()}"
    h2 = await client.start_workflow(AsyncCompletionWorkflow.run, key2, id=key2, task_queue=TASK_QUEUE)
    await wait_for(lambda: key2 in TOKENS, timeout=30, what="the second task token")
    await client.get_async_activity_handle(task_token=TOKENS[key2]).fail(
        ApplicationError("rejected by a human", type="Rejected", non_retryable=True)
    )
    assert await h2.result() == "app:Rejected:rejected by a human:NonRetryableFailure"
    # report_cancellation()
    key3 = f"async-cancel-{uuid.uuid4()}"
    h3 = await client.start_workflow(AsyncCompletionWorkflow.run, key3, id=key3, task_queue=TASK_QUEUE)
    await wait_for(lambda: key3 in TOKENS, timeout=30, what="the third task token")
    await client.get_async_activity_handle(task_token=TOKENS[key3]).report_cancellation("no longer needed")
    assert await h3.result() == "cancelled:None:['no longer needed']"
    assert "ActivityTaskCanceled" in await _types(h3)


async def retry_policy_rules(client: Client) -> None:
    async def run(error_type: str, delay_ms: int = 0, **policy: Any) -> tuple[str, list[Any], float]:
        key = f"retry-{error_type}-{uuid.uuid4()}"
        t0 = time.monotonic()
        h = await client.start_workflow(
            RetryPolicyWorkflow.run, args=[key, error_type, delay_ms, policy], id=key, task_queue=TASK_QUEUE
        )
        return await h.result(), SEEN[key], time.monotonic() - t0

    # non_retryable_error_types: one attempt
    result, attempts, _ = await run("Fatal", non_retryable=["Fatal"], initial=0.05)
    assert result == "app:Fatal:failed on attempt 1:NonRetryableFailure" and attempts == [1]
    # maximum_attempts
    result, attempts, _ = await run("Flaky", attempts=3, initial=0.05)
    assert result == "app:Flaky:failed on attempt 3:MaximumAttemptsReached" and attempts == [1, 2, 3]
    # next_retry_delay overrides a 60 s initial interval
    result, attempts, elapsed = await run("then-ok", delay_ms=100, initial=60)
    assert result == "ok on attempt 2" and attempts == [1, 2] and elapsed < 30
    # maximum_interval caps the backoff (0.1 s x 100^n would take hours)
    result, attempts, elapsed = await run("Flaky", attempts=4, initial=0.1, coefficient=100, maximum=0.2)
    assert attempts == [1, 2, 3, 4] and elapsed < 30


async def local_activities(client: Client) -> None:
    """Run in the worker inside the workflow task, recorded as markers; a worker that caches
    nothing replays every task from history, and the markers keep the activities from running
    again."""
    from tidal.worker import Worker

    key = f"local-{uuid.uuid4()}"
    worker = Worker(
        client,
        task_queue=LOCAL_QUEUE,
        workflows=[LocalActivityWorkflow],
        activities=LOCAL_ACTIVITIES,
        max_cached_workflows=0,
    )
    async with worker:
        handle = await client.start_workflow(LocalActivityWorkflow.run, key, id=key, task_queue=LOCAL_QUEUE)
        result = await handle.result()
    assert result == (f"step({key})|flaky ok on attempt 3|app:Fatal:no way:NonRetryableFailure"), result
    assert SEEN[f"{key}:step"] == [1]  # ran once, although replayed by later tasks
    assert SEEN[f"{key}:flaky"] == [1, 2, 3]  # retried locally
    assert SEEN[f"{key}:fatal"] == [1]
    history = (await handle.fetch_history()).events
    markers = [e for e in history if e.event_type == "MarkerRecorded"]
    assert [m.attributes.marker_name for m in markers] == ["LocalActivity"] * 3  # type: ignore[union-attr]
    assert markers[2].attributes.failure is not None  # type: ignore[union-attr]
    assert not any(e.event_type.startswith("ActivityTask") for e in history)
    # The replayer, too, takes the results from the markers.
    from tidal.replayer import Replayer

    await Replayer(workflows=[LocalActivityWorkflow]).replay_workflow(await handle.fetch_history())
    assert SEEN[f"{key}:step"] == [1] and SEEN[f"{key}:flaky"] == [1, 2, 3]


async def describe_shows_pending_activities(client: Client) -> None:
    """describe's pending activities: a retry backing off (attempt, last failure, next attempt
    time), a heartbeating attempt (started, details, worker), then none once they close."""
    from tidal.client import PendingActivityState

    key = f"desc-{uuid.uuid4()}"
    retrying = await client.start_workflow(
        RetryPolicyWorkflow.run, args=[key, "Flaky", 0, {"initial": 3600, "attempts": 4}], id=key,
        task_queue=TASK_QUEUE,
    )  # fmt: skip

    async def pending(handle: Any) -> Any:
        return (await handle.describe()).raw_description.pending_activities

    await wait_for(lambda: SEEN.get(key) == [1], timeout=30, what="the first attempt")
    await wait_for(
        lambda: _first_state(pending(retrying), PendingActivityState.BACKING_OFF), timeout=30, what="backoff"
    )
    [act] = await pending(retrying)
    assert (act.activity_type, act.attempt, act.maximum_attempts) == ("fails_with", 2, 4)
    assert act.last_failure is not None and act.last_failure.message == "failed on attempt 1"
    assert act.last_failure.type == "Flaky" and "fails_with" in act.last_failure.stack_trace
    assert act.next_attempt_schedule_time is not None and act.last_attempt_complete_time is not None
    assert (act.next_attempt_schedule_time - act.last_attempt_complete_time).total_seconds() == 3600
    assert act.last_worker_identity
    await retrying.terminate("seen")

    beat_key = f"desc-hb-{uuid.uuid4()}"
    beating = await client.start_workflow(
        CancelActivityWorkflow.run,
        args=[beat_key, "WAIT_CANCELLATION_COMPLETED", False],
        id=beat_key,
        task_queue=TASK_QUEUE,
    )
    await wait_for(
        lambda: _first_state(pending(beating), PendingActivityState.STARTED), timeout=30, what="a heartbeat"
    )
    [act] = await pending(beating)
    assert act.last_heartbeat_time is not None and act.last_started_time is not None
    assert act.last_worker_identity and act.last_failure is None and act.next_attempt_schedule_time is None
    await beating.signal(CancelActivityWorkflow.cancel_it)
    await beating.result()
    assert await pending(beating) == ()

    # No heartbeats: the worker's start notice, sent once the attempt has run for a while.
    quiet_key = f"desc-quiet-{uuid.uuid4()}"
    silent = await client.start_workflow(QuietWorkflow.run, quiet_key, id=quiet_key, task_queue=TASK_QUEUE)
    await wait_for(lambda: quiet_key in RUNNING, timeout=30, what="the quiet activity to run")
    await wait_for(
        lambda: _first_state(pending(silent), PendingActivityState.STARTED), timeout=30, what="the notice"
    )
    [act] = await pending(silent)
    assert act.last_started_time is not None and act.last_worker_identity
    assert act.last_heartbeat_time is None and act.heartbeat_details == ()
    RELEASE.setdefault(quiet_key, asyncio.Event()).set()
    assert await silent.result() == f"released {quiet_key}"


async def _first_state(pending: Any, state: Any) -> bool:
    found = await pending
    return bool(found) and found[0].state is state


ALL = [
    heartbeat_details_reach_the_next_attempt,
    heartbeat_timeout,
    schedule_to_start_timeout,
    cancel_wait_cancellation_completed,
    cancel_try_cancel,
    cancel_abandon,
    async_completion,
    retry_policy_rules,
    local_activities,
    describe_shows_pending_activities,
]
