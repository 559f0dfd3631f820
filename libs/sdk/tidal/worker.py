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
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from tidal_schema import commands as cmd
from tidal_schema import names
from tidal_schema.messages import (
    TASK_MESSAGE,
    ActivityTask,
    CompleteWorkflowTask,
    FailWorkflowTask,
    WorkflowTask,
)

from . import activity as _activity
from . import workflow as _workflow
from ._activity_worker import ActivityWorker, run_local_activity
from ._runtime import StaleInstanceError, WorkflowInstance, WorkflowTaskError
from ._transport import TaskConsumer, TaskDelivery, WorkerTransport
from .client import Client
from .exceptions import ApplicationError, NondeterminismError, error_to_failure
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

_CLOSE_COMMANDS = (
    cmd.CompleteWorkflowExecution,
    cmd.FailWorkflowExecution,
    cmd.CancelWorkflowExecution,
    cmd.ContinueAsNewWorkflowExecution,
)


class DeadlockError(Exception):
    """Workflow code held its thread longer than the deadlock detection timeout."""


class WorkerError(Exception):
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
    ) -> None:
        if not workflows and not activities:
            raise WorkerError("a worker needs at least one workflow or activity")
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
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        self.sticky_queue = names.sticky_queue(f"{self.identity}-{uuid.uuid4().hex[:8]}")
        self._cache: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._transport: WorkerTransport | None = None
        self._consumers: list[TaskConsumer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._started = False
        self._activity_worker: ActivityWorker | None = None

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
        self._transport = t = await self._client._new_worker_transport()
        ns = self._client.namespace
        if self._workflows:
            shared = names.workflow_task_queue(ns, self.task_queue)
            await t.declare_task_queue(shared, sticky=False)
            await t.declare_task_queue(self.sticky_queue, sticky=True)
            for queue in (self.sticky_queue, shared):
                self._consumers.append(
                    await t.consume(queue, self._spawn(self._on_workflow_task), prefetch=self._max_wft)
                )
        if self._activities:
            aw = self._activity_worker = ActivityWorker(
                activities=self._activities,
                executor=self._executor,
                converter=self._client.data_converter,
                identity=self.identity,
                publish=self._publish,
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
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self._cache.clear()
        if self._wf_threads is not None:
            # wait=False: a thread stuck in deadlocked workflow code must not hang shutdown.
            self._wf_threads.shutdown(wait=False, cancel_futures=True)
            self._wf_threads = None
        self._stopped.set()

    def _spawn(self, fn: Callable[[TaskDelivery], Any]) -> Callable[[TaskDelivery], Any]:
        # Each delivery runs as its own task so one slow activity never blocks the queue;
        # prefetch bounds how many are in flight.
        async def handler(delivery: TaskDelivery) -> None:
            task = asyncio.create_task(fn(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return handler

    async def _publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
        assert self._transport is not None
        await self._transport.publish(names.HISTORY_EXCHANGE, routing_key, body, **props)

    # --- workflow tasks -------------------------------------------------------------------

    async def _on_workflow_task(self, delivery: TaskDelivery) -> None:
        task = await _parse(delivery, WorkflowTask)
        if task is None:
            return
        try:
            reply = await self._run_workflow_task(task)
            await self._publish(task.history_routing_key, reply.model_dump_json().encode())
            await delivery.ack()
        except Exception:
            log.exception("workflow task for %s failed to complete; it will be redelivered", task.workflow_id)
            await delivery.nack(requeue=True)

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
        if instance is not None and instance.last_event_id <= task.scheduled_event_id:
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
                    raise
                instance = self._new_instance(defn, task)
                commands = await self._activate(instance, task)
        except Exception as exc:
            self._cache.pop(task.run_id, None)
            log.warning("workflow task of %s failed: %s", task.workflow_id, exc)
            if isinstance(exc, WorkflowTaskError):
                return FailWorkflowTask(failure=exc.failure, cause=exc.cause, **ref)
            cause = (
                "NonDeterministicError"
                if isinstance(exc, NondeterminismError)
                else "WorkflowWorkerUnhandledFailure"
            )
            return FailWorkflowTask(failure=error_to_failure(exc), cause=cause, **ref)
        if any(isinstance(c, _CLOSE_COMMANDS) for c in commands):
            self._cache.pop(task.run_id, None)
        else:
            self._cache[task.run_id] = instance
            self._cache.move_to_end(task.run_id)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return CompleteWorkflowTask(commands=tuple(commands), sticky_queue=self.sticky_queue, **ref)

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

    # --- activities -----------------------------------------------------------------------

    async def _on_activity_task(self, delivery: TaskDelivery) -> None:
        task = await _parse(delivery, ActivityTask)
        if task is None:
            return
        assert self._activity_worker is not None
        reply = await self._activity_worker.run(task)
        try:
            if reply is not None:
                await self._publish(task.history_routing_key, reply.model_dump_json().encode())
            await delivery.ack()
        except Exception:
            log.exception("could not report activity %s; it will be redelivered", task.activity_id)
            await delivery.nack(requeue=True)


TaskT = TypeVar("TaskT", WorkflowTask, ActivityTask)


async def _parse(delivery: TaskDelivery, kind: type[TaskT]) -> TaskT | None:
    """A task this worker cannot read is rejected to the queue's dead-letter exchange, never
    retried forever."""
    try:
        task = TASK_MESSAGE.validate_json(delivery.body)
    except ValidationError:
        log.exception("rejecting a malformed task")
        await delivery.nack(requeue=False)
        return None
    if not isinstance(task, kind):
        log.error("rejecting a %s delivered to a %s queue", type(task).__name__, kind.__name__)
        await delivery.nack(requeue=False)
        return None
    return task
