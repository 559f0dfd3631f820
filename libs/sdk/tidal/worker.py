"""The worker: runs workflow tasks (deterministic, cached per run) and activities for one task
queue. Mirrors `temporalio.worker.Worker`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from tidal_schema import commands as cmd
from tidal_schema import names
from tidal_schema.limits import check_task_queue_name
from tidal_schema.messages import (
    ActivityTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FailWorkflowTask,
    QueryErrorKind,
    QueryWorkflowReply,
    QueryWorkflowTask,
    WorkflowTask,
)

from . import _telemetry as tm
from . import activity as _activity
from . import workflow as _workflow
from ._activity_worker import ActivityWorker, run_local_activity
from ._history_pages import HistoryFetchError, fetch_older_events, query_with_older_events, with_older_events
from ._reporting import report_with_retry
from ._runtime import StaleInstanceError, WorkflowInstance, WorkflowTaskError
from ._runtime.query import answer_query
from ._runtime.update import only_rejections
from ._task_errors import cannot_page, oversized_answer, parse_task, undecodable
from ._transport import TaskConsumer, TaskDelivery, WorkerTransport
from .client import Client
from .exceptions import ApplicationError, NondeterminismError, TidalError, error_to_failure
from .replayer import Replayer, WorkflowReplayResult, WorkflowReplayResults

__all__ = [
    "DeadlockError",
    "Replayer",
    "Worker",
    "WorkerError",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]

log = logging.getLogger("tidal.worker")

# Temporal's default bound on eager activities per workflow task (its server's
# EnableActivityEagerExecution / the SDK's max_eager_activities_per_task).
MAX_EAGER_ACTIVITIES_PER_TASK = 3

_CLOSE_COMMANDS = (
    cmd.CompleteWorkflowExecution,
    cmd.FailWorkflowExecution,
    cmd.CancelWorkflowExecution,
    cmd.ContinueAsNewWorkflowExecution,
)


class DeadlockError(TidalError):
    """Workflow code held its thread longer than the deadlock detection timeout."""


class WorkerError(TidalError):
    """The worker was configured wrongly or could not start."""


class Worker:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        activity_executor: concurrent.futures.Executor | None = None,
        max_concurrent_workflow_tasks: int = 100,
        max_concurrent_activities: int = 100,
        max_cached_workflows: int = 1000,
        identity: str | None = None,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        debug_mode: bool = False,
        deadlock_detection_timeout: timedelta | float | None = timedelta(seconds=2),
        metrics_port: int | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(),
        disable_eager_activity_execution: bool = False,
    ) -> None:
        """`metrics_port`: serve Prometheus metrics on http://0.0.0.0:PORT/metrics while the worker
        runs (one port per process: every worker of the process shares the registry).

        `disable_eager_activity_execution`: as temporalio's. By default a workflow task that
        schedules activities on this worker's task queue asks history to hand up to
        MAX_EAGER_ACTIVITIES_PER_TASK of them straight back to this worker (its sticky queue)
        while it has free activity slots, skipping matching (docs/performance.md)."""
        if not workflows and not activities:
            raise WorkerError("a worker needs at least one workflow or activity")
        try:  # the server refuses such a name at every start: say so before polling nothing
            check_task_queue_name(task_queue)
        except ValueError as exc:
            raise WorkerError(f"task_queue: {exc}") from None
        self._client = client
        self.task_queue = task_queue
        self._workflows = {d.name: d for d in (_workflow.get_definition(w) for w in workflows)}
        self._activities = {d.name: d for d in (_activity.get_definition(a) for a in activities)}
        sync = [n for n, d in self._activities.items() if not d.is_async]
        if sync and activity_executor is None:
            raise WorkerError(
                f"activities {sync} are not async: pass activity_executor= (e.g. a "
                "ThreadPoolExecutor), as temporalio requires"
            )
        self._executor = activity_executor
        self._max_wft = max_concurrent_workflow_tasks
        self._max_act = max_concurrent_activities
        self._max_cached = max_cached_workflows
        self._failure_types = tuple(workflow_failure_exception_types)
        # Workflow code runs on its own threads so code that blocks (time.sleep, sync I/O, a busy
        # loop) is caught as a potential deadlock instead of freezing the worker's event loop.
        # debug_mode turns the timeout off for stepping through workflow code in a debugger.
        timeout = deadlock_detection_timeout
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self._deadlock_seconds = None if debug_mode else seconds
        self._wf_threads: concurrent.futures.ThreadPoolExecutor | None = None
        # Runs whose cached instance is being activated on a workflow thread right now: a query
        # must not read that instance mid-activation (it replays a throwaway copy instead).
        self._activating: set[str] = set()
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        self.sticky_queue = names.sticky_queue(f"{self.identity}-{uuid.uuid4().hex[:8]}")
        self._cache: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._transport: WorkerTransport | None = None
        self._consumers: list[TaskConsumer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._started = False
        self._metrics_port = metrics_port
        self._graceful_shutdown = graceful_shutdown_timeout.total_seconds()
        self._metrics_server: tm.MetricsServer | None = None
        self._cached_gauge = tm.CACHED_WORKFLOWS.labels(task_queue)
        self._activity_worker: ActivityWorker | None = None
        self._eager_activities = not disable_eager_activity_execution
        self._activities_running = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def run(self) -> None:
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.shutdown()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._stopped.clear()
        if self._workflows and self._deadlock_seconds is not None:
            self._wf_threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=min(self._max_wft, 16), thread_name_prefix="tidal-workflow"
            )
        if self._metrics_port is not None:
            self._metrics_server = tm.MetricsServer(self._metrics_port)
        self._transport = t = await self._client._new_worker_transport()
        ns = self._client.namespace
        if self._workflows:
            shared = names.workflow_task_queue(ns, self.task_queue)
            await t.declare_task_queue(shared, sticky=False)
            await t.declare_task_queue(self.sticky_queue, sticky=True)
            # The sticky queue also brings eager activities: room for those besides the tasks.
            sticky_prefetch = self._max_wft + (self._max_act if self._eager else 0)
            self._consumers.append(
                await t.consume(
                    self.sticky_queue, self._spawn(self._on_sticky_task), prefetch=sticky_prefetch
                )
            )
            self._consumers.append(
                await t.consume(shared, self._spawn(self._on_workflow_task), prefetch=self._max_wft)
            )
        if self._activities:
            aw = self._activity_worker = ActivityWorker(
                activities=self._activities,
                executor=self._executor,
                converter=self._client.data_converter,
                identity=self.identity,
                publish=self._publish,
                client=self._client,
            )
            await t.declare_task_queue(aw.control_queue, sticky=True)
            self._consumers.append(await t.consume(aw.control_queue, aw.on_control, prefetch=100))
            queue = names.activity_task_queue(ns, self.task_queue)
            await t.declare_task_queue(queue, sticky=False)
            self._consumers.append(
                await t.consume(queue, self._spawn(self._on_activity_task), prefetch=self._max_act)
            )
        log.info("worker %s polling task queue %r", self.identity, self.task_queue)

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        for consumer in self._consumers:
            try:
                await consumer.cancel()
            except Exception:
                log.debug("consumer cancel failed", exc_info=True)
        self._consumers.clear()
        if self._activity_worker is not None:
            self._activity_worker.begin_shutdown()
        if self._tasks:
            # As temporalio: running activities get `graceful_shutdown_timeout` to finish, then
            # are cancelled and fail retryably ("Worker shutdown") so another worker runs them.
            _, running = await asyncio.wait(self._tasks, timeout=self._graceful_shutdown)
            if running and self._activity_worker is not None:
                self._activity_worker.cancel_running()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self._cache.clear()
        if self._wf_threads is not None:
            # wait=False: a thread stuck in deadlocked workflow code must not hang shutdown.
            self._wf_threads.shutdown(wait=False, cancel_futures=True)
            self._wf_threads = None
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        self._stopped.set()

    def _spawn(self, fn: Callable[[TaskDelivery], Any]) -> Callable[[TaskDelivery], Any]:
        # Each delivery runs as its own task so one slow activity never blocks the queue;
        # prefetch bounds how many are in flight.
        async def handler(delivery: TaskDelivery) -> None:
            task = asyncio.create_task(fn(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return handler

    async def _publish_encoded(self, routing_key: str, message: BaseModel) -> None:
        """Publish a completion with its payloads codec-encoded (the server never sees plain ones
        when a codec is configured). One the bus would refuse is replaced by the failure that
        says so: republishing it could never succeed."""
        encoded = await self._client.data_converter.encode_model(message)
        body = encoded.model_dump_json().encode()
        assert self._transport is not None
        failed = oversized_answer(encoded, len(body), self._transport.max_message_bytes)
        if failed is not None:
            log.error("%s", failed.failure.message)
            body = failed.model_dump_json().encode()
        await self._publish(routing_key, body)

    async def _publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
        assert self._transport is not None
        await self._transport.publish(names.HISTORY_EXCHANGE, routing_key, body, **props)

    # --- workflow tasks -------------------------------------------------------------------

    @property
    def _eager(self) -> bool:
        return self._eager_activities and bool(self._activities) and bool(self._workflows)

    async def _on_sticky_task(self, delivery: TaskDelivery) -> None:
        """This worker's own queue: workflow tasks of runs it has cached, queries, and the eager
        activities its completions asked for."""
        kinds: tuple[type, ...] = (WorkflowTask, QueryWorkflowTask)
        task = await parse_task(delivery, (*kinds, ActivityTask) if self._eager else kinds)
        if isinstance(task, ActivityTask):
            await self._run_activity_task(task, delivery)
        elif task is not None:
            await self._run_workflow_delivery(task, delivery)

    async def _on_workflow_task(self, delivery: TaskDelivery) -> None:
        task = await parse_task(delivery, (WorkflowTask, QueryWorkflowTask))
        if task is not None:
            await self._run_workflow_delivery(task, delivery)

    async def _run_workflow_delivery(
        self, task: WorkflowTask | ActivityTask | QueryWorkflowTask, delivery: TaskDelivery
    ) -> None:
        if isinstance(task, QueryWorkflowTask):
            await self._on_query_task(task, delivery)
            return
        if not isinstance(task, WorkflowTask):
            return
        start = tm.now()
        if task.events and task.events[-1].attributes.type == "WorkflowTaskScheduled":
            tm.SCHEDULE_TO_START.labels(self.task_queue, "workflow").observe(
                tm.since(task.events[-1].event_time)
            )
        attributes = {"tidal.workflow_type": task.workflow_type, "tidal.workflow_id": task.workflow_id}
        with tm.task_span(f"RunWorkflow:{task.workflow_type}", delivery.headers, attributes):
            try:
                try:
                    task = await with_older_events(self._client, self._cache, task, self.task_queue)
                    decoded = await self._client.data_converter.decode_model(task)
                except HistoryFetchError as exc:
                    log.warning("%s", exc)
                    reply = cannot_page(task, exc, self.identity)
                except Exception as exc:
                    # Redelivering cannot help (e.g. a key this worker lacks): history records the
                    # failure and retries the task with backoff, possibly on another worker.
                    log.warning("cannot decode the workflow task of %s: %s", task.workflow_id, exc)
                    self._cache.pop(task.run_id, None)
                    reply = undecodable(task, exc, self.identity)
                else:
                    reply = await self._run_workflow_task(decoded)
                await self._publish_encoded(task.history_routing_key, reply)
                await delivery.ack()
            except Exception:
                log.exception(
                    "workflow task for %s failed to complete; it will be redelivered", task.workflow_id
                )
                await delivery.nack(requeue=True)
                return
        outcome = "completed" if isinstance(reply, CompleteWorkflowTask) else "failed"
        tm.WORKFLOW_TASKS.labels(self.task_queue, task.workflow_type, outcome).inc()
        tm.WORKFLOW_TASK_SECONDS.labels(self.task_queue, task.workflow_type).observe(tm.now() - start)
        self._cached_gauge.set(len(self._cache))

    async def _run_workflow_task(self, task: WorkflowTask) -> CompleteWorkflowTask | FailWorkflowTask:
        defn = self._workflows.get(task.workflow_type)
        ref = dict(
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            attempt=task.attempt,
            identity=self.identity,
        )
        if defn is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            failure = error_to_failure(
                ApplicationError(
                    f"workflow type {task.workflow_type!r} is not registered on this worker "
                    f"(registered: {known})",
                    type="NotFoundError",
                )
            )
            return FailWorkflowTask(failure=failure, cause="WorkflowTypeNotFound", **ref)
        instance = self._cache.get(task.run_id)
        hit = instance is not None and instance.last_event_id <= task.scheduled_event_id
        tm.STICKY_CACHE.labels(self.task_queue, "hit" if hit else "miss").inc()
        if instance is not None and hit:
            events = tuple(e for e in task.events if e.event_id > instance.last_event_id)
            task_for_instance = task.model_copy(
                update={"events": events, "first_event_id": instance.last_event_id + 1}
            )
        else:
            instance, task_for_instance = self._new_instance(defn, task), task
        try:
            try:
                commands = await self._activate(instance, task_for_instance)
            except StaleInstanceError:
                if task.first_event_id != 1:
                    tm.HISTORY_FETCHES.labels(self.task_queue).inc()
                    older = await fetch_older_events(self._client, task)
                    older = (
                        await self._client.data_converter.decode_model(
                            task.model_copy(update={"events": older})
                        )
                    ).events
                    task = task.model_copy(update={"events": (*older, *task.events), "first_event_id": 1})
                instance = self._new_instance(defn, task)
                commands = await self._activate(instance, task)
        except Exception as exc:
            self._cache.pop(task.run_id, None)
            log.warning("workflow task of %s failed: %s", task.workflow_id, exc)
            if isinstance(exc, WorkflowTaskError):
                return FailWorkflowTask(failure=exc.failure, cause=exc.task_failure_cause, **ref)
            cause = (
                "NonDeterministicError"
                if isinstance(exc, NondeterminismError)
                else "WorkflowWorkerUnhandledFailure"
            )
            return FailWorkflowTask(failure=error_to_failure(exc), cause=cause, **ref)
        if any(isinstance(c, _CLOSE_COMMANDS) for c in commands) or (
            task.speculative and only_rejections(commands)
        ):
            # (History drops a speculative task that only rejected updates: this instance ran an
            # activation history will never show, so the next task must replay from scratch.)
            self._cache.pop(task.run_id, None)
        else:
            self._cache[task.run_id] = instance
            self._cache.move_to_end(task.run_id)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return CompleteWorkflowTask(
            commands=self._request_eager(commands),
            sticky_queue=self.sticky_queue,
            seen_event_id=task.events[-1].event_id if task.events else 0,
            **ref,
        )

    def _request_eager(self, commands: Sequence[cmd.Command]) -> tuple[cmd.Command, ...]:
        """Ask for activities of this task queue that this worker runs to come straight back to
        it, while it has free activity slots (Temporal's eager activity execution). Slots are
        not reserved: the sticky queue's prefetch bounds what can arrive at once."""
        free = min(MAX_EAGER_ACTIVITIES_PER_TASK, self._max_act - self._activities_running)
        if not self._eager or free <= 0:
            return tuple(commands)
        out: list[cmd.Command] = []
        for c in commands:
            if (
                free > 0
                and isinstance(c, cmd.ScheduleActivityTask)
                and c.task_queue == self.task_queue
                and c.activity_type in self._activities
            ):
                c = c.model_copy(update={"request_eager_execution": True})
                free -= 1
            out.append(c)
        return tuple(out)

    async def _on_query_task(self, task: QueryWorkflowTask, delivery: TaskDelivery) -> None:
        # Queries never touch history: the answer goes straight back to the waiting frontend.
        # One nobody waits for any more (past its deadline, or without a reply address) is dropped.
        if task.reply_to and task.deadline > datetime.now(UTC):
            try:
                task = await query_with_older_events(self._client, self._cache, task, self.task_queue)
            except HistoryFetchError as exc:
                await self._answer(
                    task,
                    QueryWorkflowReply(
                        query_id=task.query_id,
                        error=QueryErrorKind.WORKER_ERROR,
                        message=str(exc),
                        identity=self.identity,
                    ),
                )
                await delivery.ack()
                return
            task = await self._client.data_converter.decode_model(task)
            reply = answer_query(
                task,
                definitions=self._workflows,
                cache=self._cache if task.run_id not in self._activating else {},
                converter=self._client.data_converter,
                identity=self.identity,
            )
            await self._answer(task, reply)
        await delivery.ack()

    async def _answer(self, task: QueryWorkflowTask, reply: QueryWorkflowReply) -> None:
        try:
            assert self._transport is not None
            reply = await self._client.data_converter.encode_model(reply)
            await self._transport.publish(
                "", task.reply_to, reply.model_dump_json().encode(), correlation_id=task.correlation_id
            )
        except Exception:
            # The requester is gone or the broker hiccuped: the frontend times out and reports it.
            log.warning("could not answer query %s of %s", task.query_id, task.workflow_id, exc_info=True)

    def _new_instance(self, defn: _workflow.WorkflowDefinition, task: WorkflowTask) -> WorkflowInstance:
        return WorkflowInstance(
            definition=defn,
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            converter=self._client.data_converter,
            failure_exception_types=self._failure_types,
        )

    async def _activate(self, instance: WorkflowInstance, task: WorkflowTask) -> tuple[cmd.Command, ...]:
        commands = await self._in_workflow_thread(instance.activate, task, task)
        # Local activities run here, inside the task; their markers and what the code does next
        # join the task's commands (docs/activities.md).
        while pending := instance.pending_local_activities():
            outcomes = await asyncio.gather(
                *(
                    run_local_activity(
                        req,
                        task=task,
                        activities=self._activities,
                        executor=self._executor,
                        converter=self._client.data_converter,
                    )
                    for req in pending
                )
            )
            commands += await self._in_workflow_thread(instance.resolve_local_activities, outcomes, task)
        return commands

    async def _in_workflow_thread(
        self, fn: Callable[[Any], tuple[cmd.Command, ...]], arg: Any, task: WorkflowTask
    ) -> tuple[cmd.Command, ...]:
        if self._wf_threads is None:
            return fn(arg)
        fut = asyncio.get_running_loop().run_in_executor(self._wf_threads, fn, arg)
        self._activating.add(task.run_id)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self._deadlock_seconds)
        except TimeoutError:
            # The thread cannot be stopped; it is abandoned with the instance (evicted by the
            # caller), as temporalio does. The task fails and is retried on a fresh replay.
            raise DeadlockError(
                f"Potential deadlock detected: workflow {task.workflow_type} ({task.workflow_id}) did "
                f"not yield within {self._deadlock_seconds:g} s. Workflow code must not block: use "
                "workflow.sleep / activities instead of time.sleep or blocking I/O (or pass "
                "debug_mode=True to the Worker while debugging)."
            ) from None
        finally:
            self._activating.discard(task.run_id)

    # --- activities -----------------------------------------------------------------------

    async def _on_activity_task(self, delivery: TaskDelivery) -> None:
        task = await parse_task(delivery, (ActivityTask,))
        if isinstance(task, ActivityTask):
            await self._run_activity_task(task, delivery)

    async def _run_activity_task(self, task: ActivityTask, delivery: TaskDelivery) -> None:
        self._activities_running += 1
        try:
            await self._run_activity_attempt(task, delivery)
        finally:
            self._activities_running -= 1

    async def _run_activity_attempt(self, task: ActivityTask, delivery: TaskDelivery) -> None:
        tm.SCHEDULE_TO_START.labels(self.task_queue, "activity").observe(
            tm.since(task.current_attempt_scheduled_time)
        )
        attributes = {
            "tidal.activity_type": task.activity_type,
            "tidal.workflow_id": task.workflow_id,
            "tidal.attempt": str(task.attempt),
        }
        assert self._activity_worker is not None
        with tm.task_span(f"RunActivity:{task.activity_type}", delivery.headers, attributes):
            start = tm.now()
            try:
                task = await self._client.data_converter.decode_model(task)
            except Exception as exc:
                log.warning("cannot decode activity task %s: %s", task.activity_id, exc)
                reply: BaseModel | None = undecodable(task, exc, self.identity)
            else:
                reply = await self._activity_worker.run(task)
            tm.ACTIVITY_SECONDS.labels(self.task_queue, task.activity_type).observe(tm.now() - start)
            outcome = "completed" if isinstance(reply, CompleteActivityTask) else "failed"
            if reply is not None:
                tm.ACTIVITY_TASKS.labels(self.task_queue, task.activity_type, outcome).inc()
            try:
                if reply is not None:
                    answer = reply
                    await report_with_retry(
                        lambda: self._publish_encoded(task.history_routing_key, answer),
                        start_to_close=task.start_to_close_timeout,
                        what=f"activity {task.activity_id} attempt {task.attempt}",
                    )
                await delivery.ack()
            except Exception:
                log.exception("could not report activity %s; it will be redelivered", task.activity_id)
                await delivery.nack(requeue=True)
