"""The activity half of a worker: runs attempts, sends throttled heartbeats, learns about
cancellation from heartbeat replies, and reports the outcome to the owning history shard.

Heartbeats go to history with the AMQP `reply_to` of this worker's control queue
(`names.activity_control_queue`); history answers `ActivityHeartbeatReply` there with the
attempt's correlation id. So a running activity learns that the workflow cancelled it on its next
heartbeat, as in Temporal (docs/activities.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from tidal_schema import Failure, names
from tidal_schema.messages import (
    REPLY,
    ActivityHeartbeatReply,
    ActivityTask,
    CompleteActivityTask,
    FailActivityTask,
    RecordActivityTaskHeartbeat,
    RecordActivityTaskStarted,
    ReportActivityTaskCanceled,
)
from tidal_schema.task_token import ActivityTaskToken

from . import _telemetry as tm
from . import activity as _activity
from . import common as _common
from . import exceptions as _exc
from ._activity_process import ProcessRun, SharedStateManager
from ._interceptors import ExecuteActivityInput, Interceptor, activity_chain
from ._reporting import report_with_retry
from ._task_errors import undecodable
from ._transport import TaskDelivery
from .converter import ActivitySerializationContext, DataConverter
from .exceptions import ApplicationError, ApplicationErrorCategory

if TYPE_CHECKING:
    from ._fused_completion import FusedCompletions

log = logging.getLogger("tidal.worker")

# temporalio's defaults: heartbeats at most every 80% of the heartbeat timeout, else every 30 s.
DEFAULT_HEARTBEAT_THROTTLE = timedelta(seconds=30)
MAX_HEARTBEAT_THROTTLE = timedelta(seconds=60)

Publish = Callable[..., Awaitable[None]]
PublishFused = Callable[..., Awaitable[bool]]
Report = CompleteActivityTask | FailActivityTask | ReportActivityTaskCanceled


def heartbeat_throttle(
    heartbeat_timeout: timedelta | None,
    maximum: timedelta = MAX_HEARTBEAT_THROTTLE,
    default: timedelta = DEFAULT_HEARTBEAT_THROTTLE,
) -> float:
    if heartbeat_timeout is None:
        return default.total_seconds()
    return min(heartbeat_timeout * 0.8, maximum).total_seconds()


# An attempt running this long tells history it started (RecordActivityTaskStarted), so describe
# can tell a running attempt from one still queued; shorter ones send nothing.
STARTED_NOTICE_AFTER_SECONDS = 2.0


# What `activity.cancellation_details()` tells the attempt for each reason the worker cancels it.
_CANCELLATION_DETAILS = {
    "cancel_requested": _activity.ActivityCancellationDetails(cancel_requested=True),
    "activity_gone": _activity.ActivityCancellationDetails(not_found=True),
    "worker_shutdown": _activity.ActivityCancellationDetails(worker_shutdown=True),
}


@dataclass(eq=False)
class _Attempt:
    task: ActivityTask
    ctx: _activity._Context
    conv: DataConverter  # the worker's, with this attempt's serialization context
    # Matches history's heartbeat replies to the attempt. Unique within the worker's own control
    # queue, which is all it needs: a counter, not a uuid4 (an os.urandom call per attempt).
    correlation_id: str
    # Why the worker cancelled the attempt: "cancel_requested" (report it as cancelled),
    # "activity_gone" (the attempt is no longer current: report nothing) or "worker_shutdown"
    # (the worker is stopping: fail the attempt retryably so another worker runs it).
    cancel_reason: str | None = None
    inner: asyncio.Future[Any] | None = None
    pending: tuple[Any, ...] | None = None
    sender: asyncio.Task[None] | None = None


class ActivityWorker:
    def __init__(
        self,
        *,
        task_queue: str,
        activities: Mapping[str, _activity.ActivityDefinition],
        executor: concurrent.futures.Executor | None,
        converter: DataConverter,
        identity: str,
        publish: Publish,
        interceptors: Sequence[Interceptor] = (),
        heartbeat_throttle: tuple[timedelta, timedelta] = (
            MAX_HEARTBEAT_THROTTLE,
            DEFAULT_HEARTBEAT_THROTTLE,
        ),
        client: Any = None,
        shared_state_manager: SharedStateManager | None = None,
    ) -> None:
        """`client`: what `activity.client()` returns in the activities (the worker's);
        `shared_state_manager`: for sync activities on an executor that is not a thread pool."""
        self._client = client
        self._shared = shared_state_manager
        self.task_queue = task_queue
        self._activities = activities
        self._throttle = heartbeat_throttle  # (maximum, default without a heartbeat timeout)
        self._interceptors = tuple(interceptors)
        self._executor = executor
        self._conv = converter
        self._identity = identity
        self._publish = publish
        self.control_queue = names.activity_control_queue(f"{identity}-{uuid.uuid4().hex[:8]}")
        self._running: dict[str, _Attempt] = {}
        self._attempt_ids = itertools.count(1)
        self._shutting_down = False
        self._notices: set[asyncio.Task[None]] = set()

    # --- heartbeat replies ----------------------------------------------------------------

    async def on_control(self, delivery: TaskDelivery) -> None:
        try:
            reply = REPLY.validate_json(delivery.body)
        except ValidationError:
            log.warning("ignoring a malformed message on %s", self.control_queue)
            await delivery.ack()
            return
        attempt = self._running.get(delivery.correlation_id or "")
        if attempt is not None and isinstance(reply, ActivityHeartbeatReply):
            if reply.activity_gone:
                self._cancel(attempt, "activity_gone")
            elif reply.cancel_requested:
                self._cancel(attempt, "cancel_requested")
        await delivery.ack()

    def _cancel(self, attempt: _Attempt, reason: str) -> None:
        if attempt.cancel_reason is not None:
            return
        attempt.cancel_reason = reason
        attempt.ctx.cancel(_CANCELLATION_DETAILS[reason])
        if attempt.inner is not None and not attempt.inner.done():
            # Async activities see asyncio.CancelledError; sync ones poll is_cancelled().
            defn = _activity._lookup(self._activities, attempt.task.activity_type)
            if defn is not None and defn.is_async:
                attempt.inner.cancel()

    def begin_shutdown(self) -> None:
        """The worker is shutting down: running attempts see `activity.is_worker_shutdown()` (and
        `wait_for_worker_shutdown()` returns) while their graceful shutdown time runs."""
        self._shutting_down = True
        for attempt in list(self._running.values()):
            attempt.ctx.worker_shutdown()

    def cancel_running(self) -> None:
        """Cancel every running attempt because the worker is shutting down (temporalio's
        behaviour once `graceful_shutdown_timeout` has passed)."""
        for attempt in list(self._running.values()):
            self._cancel(attempt, "worker_shutdown")

    # --- heartbeats -----------------------------------------------------------------------

    def _heartbeat_hook(self, correlation_id: str, loop: asyncio.AbstractEventLoop) -> Callable[..., None]:
        # By id, not the attempt itself: the hook lives in the attempt's context, and a hook
        # holding the attempt would make a cycle that only the cyclic collector frees.
        def hook(*details: Any) -> None:
            loop.call_soon_threadsafe(self._on_heartbeat, correlation_id, details)

        return hook

    def _on_heartbeat(self, correlation_id: str, details: tuple[Any, ...]) -> None:
        attempt = self._running.get(correlation_id)
        if attempt is None:
            return  # the attempt has finished; a late heartbeat from its thread
        attempt.pending = details
        if attempt.sender is None:
            attempt.sender = asyncio.get_running_loop().create_task(self._send_heartbeats(attempt))

    async def _send_heartbeats(self, attempt: _Attempt) -> None:
        """The first heartbeat goes at once; later ones are coalesced to one per throttle window,
        carrying the latest details (the sleep paces sending; it synchronises nothing)."""
        throttle = heartbeat_throttle(attempt.task.heartbeat_timeout, *self._throttle)
        try:
            while attempt.pending is not None:
                details, attempt.pending = attempt.pending, None
                t = attempt.task
                msg = RecordActivityTaskHeartbeat(
                    namespace=t.namespace,
                    workflow_id=t.workflow_id,
                    run_id=t.run_id,
                    scheduled_event_id=t.scheduled_event_id,
                    attempt=t.attempt,
                    details=await attempt.conv.encode(list(details)),  # codec applies, as for results
                    identity=self._identity,
                )
                try:
                    await self._publish(
                        t.history_routing_key,
                        msg.model_dump_json().encode(),
                        reply_to=self.control_queue,
                        correlation_id=attempt.correlation_id,
                    )
                except Exception:
                    log.warning("heartbeat of activity %s failed to send", t.activity_id, exc_info=True)
                await asyncio.sleep(throttle)
        finally:
            attempt.sender = None

    # --- running an attempt ---------------------------------------------------------------

    async def run(self, task: ActivityTask, converter: DataConverter | None = None) -> Report | None:
        """The report for history, or None when there is nothing to report (async completion, or
        an attempt that history already gave up on). `converter`: the worker's with the attempt's
        context (`activity_converter`)."""
        conv = converter or self._conv
        ref = dict(
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            attempt=task.attempt,
            identity=self._identity,
        )
        defn = _activity._lookup(self._activities, task.activity_type)
        if defn is None:
            known = ", ".join(sorted(self._activities)) or "none"
            exc: BaseException = ApplicationError(
                f"activity type {task.activity_type!r} is not registered on this worker "
                f"(registered: {known})",
                type="NotFoundError",
            )
            return FailActivityTask(failure=to_failure(conv, exc), **ref)
        notice: asyncio.TimerHandle | None = None
        if task.schedule_to_start_timeout is not None:
            await self._send_started(task, ref)
        else:
            # An attempt still running after a while says so (describe shows it Started, with this
            # worker); a short one, the usual case, costs no message.
            notice = asyncio.get_running_loop().call_later(
                STARTED_NOTICE_AFTER_SECONDS, self._notice_later, task, ref
            )
        ctx = _activity._Context(
            info=self._info(task, conv), client=self._client, payload_converter=conv.payload_converter
        )
        if (
            not defn.is_async
            and self._shared is not None
            and not isinstance(self._executor, concurrent.futures.ThreadPoolExecutor)
        ):
            ctx.process = ProcessRun(self._shared, conv.payload_converter_class)
            ctx.cancelled_event, ctx.shutdown_event = self._shared.new_event(), self._shared.new_event()
        if self._shutting_down:
            ctx.worker_shutdown()
        attempt = _Attempt(task=task, ctx=ctx, conv=conv, correlation_id=str(next(self._attempt_ids)))
        ctx.heartbeat = self._heartbeat_hook(attempt.correlation_id, asyncio.get_running_loop())
        self._running[attempt.correlation_id] = attempt
        token = _activity._set_context(ctx)
        try:
            result = await self._call(defn, task, attempt)
            return CompleteActivityTask(result=conv.to_payloads([result]), **ref)
        except _activity._CompleteAsyncError:
            return None
        except (asyncio.CancelledError, _exc.CancelledError) as exc:
            if attempt.cancel_reason == "activity_gone":
                return None
            if attempt.cancel_reason == "cancel_requested":
                details = exc.details if isinstance(exc, _exc.CancelledError) else ()
                return ReportActivityTaskCanceled(details=conv.to_payloads(list(details)), **ref)
            if attempt.cancel_reason == "worker_shutdown":
                shutdown = ApplicationError("Worker shutdown", type="WorkerShutdown")
                return FailActivityTask(failure=to_failure(conv, shutdown), **ref)
            if isinstance(exc, asyncio.CancelledError):
                raise  # the worker itself is being cancelled
            return FailActivityTask(failure=to_failure(conv, exc), **ref)
        except Exception as exc:
            unsent = attempt.pending
            last = conv.to_payloads(list(unsent)) if unsent is not None else None
            return FailActivityTask(failure=to_failure(conv, exc), last_heartbeat_details=last, **ref)
        finally:
            if notice is not None:
                notice.cancel()
            _activity._reset_context(token)
            self._running.pop(attempt.correlation_id, None)
            if attempt.sender is not None:
                attempt.sender.cancel()
            # The finished task holds a copy of the context that holds `ctx`: let go of it, so the
            # attempt's objects are freed by reference counting, not left to the cyclic collector.
            attempt.inner = None

    async def deliver(
        self,
        task: ActivityTask,
        delivery: TaskDelivery,
        *,
        converter: DataConverter,
        publish_encoded: Callable[[str, BaseModel, DataConverter], Awaitable[None]],
        fused: FusedCompletions | None = None,
        publish_fused: PublishFused | None = None,
    ) -> None:
        """Run one delivered attempt and report it (metrics, span, ack once reported). `fused`:
        the workflow half's, for an eager attempt's result that may carry the next workflow task,
        published with `publish_fused`."""
        tm.child(tm.SCHEDULE_TO_START, self.task_queue, "activity").observe(
            tm.since(task.current_attempt_scheduled_time)
        )
        attributes = {
            "tidal.activity_type": task.activity_type,
            "tidal.workflow_id": task.workflow_id,
            "tidal.attempt": str(task.attempt),
        }
        with tm.task_span(f"RunActivity:{task.activity_type}", delivery.headers, attributes):
            start = tm.now()
            conv = activity_converter(converter, task)
            try:
                task = await conv.decode_model(task)
            except Exception as exc:
                log.warning("cannot decode activity task %s: %s", task.activity_id, exc)
                reply: BaseModel | None = undecodable(task, exc, self._identity)
            else:
                reply = await self.run(task, conv)
            tm.child(tm.ACTIVITY_SECONDS, self.task_queue, task.activity_type).observe(tm.now() - start)
            outcome = _activity_outcome(reply)
            if isinstance(reply, FailActivityTask):
                # As temporalio: a BENIGN application error is an expected outcome, logged at DEBUG.
                level = logging.DEBUG if outcome == "benign" else logging.WARNING
                log.log(
                    level,
                    "activity %s attempt %d failed: %s",
                    task.activity_id,
                    task.attempt,
                    reply.failure.message,
                )
            if reply is not None:
                tm.child(tm.ACTIVITY_TASKS, self.task_queue, task.activity_type, outcome).inc()
            fused_task = None
            if fused is not None and reply is not None:
                if isinstance(reply, CompleteActivityTask) and task.next_event_id:
                    # Another attempt of the run still running here will report too: its result
                    # would move history past the fused task's ids.
                    siblings = any(a.task.run_id == task.run_id for a in self._running.values())
                    fused_task = await fused.fuse(task, reply, conv, delivery.headers, siblings=siblings)
                if fused_task is None:
                    fused.result_alone(task.run_id)

            async def report(answer: BaseModel) -> None:
                if fused_task is not None and publish_fused is not None:
                    assert isinstance(answer, CompleteActivityTask)
                    key = task.history_routing_key
                    await publish_fused(key, answer, conv, fused_task.completion, fused_task.converter)
                else:
                    await publish_encoded(task.history_routing_key, answer, conv)

            try:
                if reply is not None:
                    answer = reply
                    await report_with_retry(
                        lambda: report(answer),
                        start_to_close=task.start_to_close_timeout,
                        what=f"activity {task.activity_id} attempt {task.attempt}",
                    )
                await delivery.ack()
            except Exception:
                log.exception("could not report activity %s; it will be redelivered", task.activity_id)
                await delivery.nack(requeue=True)

    async def _send_started(self, task: ActivityTask, ref: dict[str, Any]) -> None:
        started = RecordActivityTaskStarted(**ref)
        try:
            await self._publish(task.history_routing_key, started.model_dump_json().encode())
        except Exception:
            # Best effort: without it a schedule-to-start timer may time the attempt out.
            log.warning("start notice of activity %s failed to send", task.activity_id, exc_info=True)

    def _notice_later(self, task: ActivityTask, ref: dict[str, Any]) -> None:
        sending = asyncio.get_running_loop().create_task(self._send_started(task, ref))
        self._notices.add(sending)  # held until done (the loop keeps only weak references)
        sending.add_done_callback(self._notices.discard)

    async def _call(self, defn: _activity.ActivityDefinition, task: ActivityTask, attempt: _Attempt) -> Any:
        args = defn.arguments(task.input, attempt.conv.from_payloads)
        timeout = task.start_to_close_timeout.total_seconds() if task.start_to_close_timeout else None
        chain = activity_chain(self._interceptors, attempt.ctx, is_async=defn.is_async)
        call = ExecuteActivityInput(fn=defn.fn, args=args, executor=self._executor, headers=task.header)
        # One task for the whole chain, so a cancel or timeout reaches interceptors too.
        attempt.inner = asyncio.get_running_loop().create_task(chain.execute_activity(call))
        # Not asyncio.wait_for: on Python 3.11 it returns an outcome that arrives in the turn this
        # task is cancelled, and the cancelled worker task went on to report it. The timeout
        # cancels the attempt's task through this await, as wait_for did.
        async with asyncio.timeout(timeout):
            result = await attempt.inner
        if inspect.isawaitable(result):
            result = await result
        return result

    def _info(self, task: ActivityTask, conv: DataConverter) -> _activity.Info:
        token = ActivityTaskToken(
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            attempt=task.attempt,
            activity_id=task.activity_id,
        )
        return _activity.Info(
            activity_id=task.activity_id,
            activity_type=task.activity_type,
            attempt=task.attempt,
            workflow_id=task.workflow_id,
            workflow_run_id=task.run_id,
            workflow_type=task.workflow_type,
            workflow_namespace=task.namespace,
            task_queue=task.task_queue,
            scheduled_time=task.scheduled_time,
            current_attempt_scheduled_time=task.current_attempt_scheduled_time,
            start_to_close_timeout=task.start_to_close_timeout,
            schedule_to_close_timeout=task.schedule_to_close_timeout,
            heartbeat_timeout=task.heartbeat_timeout,
            heartbeat_details=conv.from_payloads(task.heartbeat_details),
            task_token=token.encode(),
            schedule_to_start_timeout=task.schedule_to_start_timeout,
            priority=_common.Priority.from_schema(task.priority),
            retry_policy=_common.RetryPolicy.from_schema(task.retry_policy) if task.retry_policy else None,
            namespace=task.namespace,
            started_time=datetime.now(UTC),
            is_local=False,
        )


def activity_converter(converter: DataConverter, task: ActivityTask) -> DataConverter:
    """The worker's converter with the attempt's serialization context, as temporalio gives it."""
    return converter.with_context(
        ActivitySerializationContext(
            namespace=task.namespace,
            activity_id=task.activity_id,
            activity_type=task.activity_type,
            activity_task_queue=task.task_queue,
            workflow_id=task.workflow_id,
            workflow_type=task.workflow_type,
            is_local=False,
        )
    )


def to_failure(converter: DataConverter, exc: BaseException) -> Failure:
    return converter.failure_converter.to_failure(exc, converter.payload_converter)


def _activity_outcome(reply: BaseModel | None) -> str:
    if isinstance(reply, CompleteActivityTask):
        return "completed"
    if isinstance(reply, FailActivityTask) and reply.failure.category == ApplicationErrorCategory.BENIGN:
        return "benign"
    return "failed"
