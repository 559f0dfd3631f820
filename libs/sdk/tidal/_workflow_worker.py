"""The workflow half of a worker: runs workflow tasks on deterministic instances cached per run
(sticky), answers queries, and asks for eager activities; an activation (the code on a workflow
thread, local activities inside the task) runs through `_workflow_activation`. The `Worker` owns
the queues and hands it deliveries."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ActivityTask,
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
from ._activity_worker import to_failure
from ._definitions import lookup as _workflow_lookup
from ._fused_completion import FusedCompletions
from ._history_pages import HistoryFetchError, fetch_older_events, query_with_older_events, with_older_events
from ._interceptors import Interceptor, workflow_interceptor_classes
from ._run_cache import RunCache
from ._runtime import PatchActivationInput, StaleInstanceError, WorkflowInstance, WorkflowTaskError
from ._runtime.query_answer import answer_query
from ._runtime.update import only_rejections
from ._task_errors import cannot_page, undecodable
from ._transport import TaskDelivery, WorkerTransport
from ._worker_errors import DeadlockError
from ._workflow_activation import Activations
from .client import Client
from .converter import DataConverter, WorkflowSerializationContext
from .exceptions import ApplicationError, NondeterminismError

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

PublishEncoded = Callable[[str, BaseModel, DataConverter], Awaitable[None]]


class WorkflowWorker:
    def __init__(
        self,
        *,
        client: Client,
        task_queue: str,
        identity: str,
        sticky_queue: str,
        workflows: Mapping[str, _workflow.WorkflowDefinition],
        activities: Mapping[str, _activity.ActivityDefinition],
        activity_executor: concurrent.futures.Executor | None,
        max_concurrent_workflow_tasks: int,
        max_cached_workflows: int,
        failure_exception_types: tuple[type[BaseException], ...],
        deadlock_seconds: float | None,
        free_eager_slots: Callable[[], int],
        transport: WorkerTransport,
        publish_encoded: PublishEncoded,
        interceptors: Sequence[Interceptor] = (),
        max_concurrent_local_activities: int = 100,
        max_eager_activities_per_task: int = MAX_EAGER_ACTIVITIES_PER_TASK,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        patch_activation_callback: Callable[[PatchActivationInput], bool] | None = None,
        disable_safe_eviction: bool = False,
        fused_completion: bool = True,
    ) -> None:
        self._client = client
        self._patch_activation_callback = patch_activation_callback
        self.task_queue = task_queue
        self.identity = identity
        self.sticky_queue = sticky_queue
        self._workflows = workflows
        self._activities = activities
        self._max_cached = max_cached_workflows
        self._failure_types = failure_exception_types
        self._free_eager_slots = free_eager_slots
        self._transport = transport
        self._publish_encoded = publish_encoded
        self._interceptors = tuple(interceptors)
        self._workflow_interceptors = workflow_interceptor_classes(self._interceptors)
        self._max_eager = max_eager_activities_per_task
        self._activations = Activations(
            deadlock_seconds=deadlock_seconds,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
            workflow_task_executor=workflow_task_executor,
            activities=activities,
            activity_executor=activity_executor,
            interceptors=self._interceptors,
            converter=self._converter,
            max_concurrent_local_activities=max_concurrent_local_activities,
        )
        # Runs activated on a workflow thread right now (the activations' own set).
        self._activating = self._activations.activating
        self._in_task: dict[str, int] = {}  # runs with a workflow task delivery in progress
        self._cache = RunCache(
            capacity=max_cached_workflows,
            safe_eviction=not disable_safe_eviction,
            busy=self._activating,
            threads=lambda: self._activations.threads,
        )
        self._cached_gauge = tm.CACHED_WORKFLOWS.labels(task_queue)
        self.fused = FusedCompletions(
            enabled=fused_completion,
            task_queue=task_queue,
            identity=identity,
            cache=self._cache,
            busy=lambda run: run in self._in_task or run in self._activating,
            activate=self._activations.activate,
            converter=self._converter,
            completion=self._completion,
        )

    def close(self) -> None:
        self._cache.clear()
        self._activations.close()

    async def run_delivery(self, task: WorkflowTask | QueryWorkflowTask, delivery: TaskDelivery) -> None:
        if isinstance(task, QueryWorkflowTask):
            await self._on_query_task(task, delivery)
            return
        start = tm.now()
        taken = datetime.now(UTC)  # the task's start: its workflow.now() (recorded by history)
        if task.events and task.events[-1].attributes.type == "WorkflowTaskScheduled":
            tm.child(tm.SCHEDULE_TO_START, self.task_queue, "workflow").observe(
                tm.since(task.events[-1].event_time)
            )
        await self.fused.wait_idle(task.run_id)
        self._in_task[task.run_id] = self._in_task.get(task.run_id, 0) + 1
        try:
            await self._run_task_delivery(task, delivery, start, taken)
        finally:
            if (left := self._in_task.pop(task.run_id) - 1) > 0:
                self._in_task[task.run_id] = left

    async def _run_task_delivery(
        self, task: WorkflowTask, delivery: TaskDelivery, start: float, taken: datetime
    ) -> None:
        self.fused.check_task(task)
        attributes = {"tidal.workflow_type": task.workflow_type, "tidal.workflow_id": task.workflow_id}
        # One converter for the whole task: the context is the run's (namespace, workflow id).
        conv = self._converter(task)
        with tm.task_span(f"RunWorkflow:{task.workflow_type}", delivery.headers, attributes):
            try:
                try:
                    task = await with_older_events(self._client, self._cache, task, self.task_queue)
                    decoded = await conv.decode_model(task)
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
                    reply = await self._run_workflow_task(_started(decoded, taken), conv)
                await self._publish_encoded(task.history_routing_key, reply, conv)
                await delivery.ack()
            except Exception:
                log.exception(
                    "workflow task for %s failed to complete; it will be redelivered", task.workflow_id
                )
                await delivery.nack(requeue=True)
                return
        outcome = "completed" if isinstance(reply, CompleteWorkflowTask) else "failed"
        tm.child(tm.WORKFLOW_TASKS, self.task_queue, task.workflow_type, outcome).inc()
        tm.child(tm.WORKFLOW_TASK_SECONDS, self.task_queue, task.workflow_type).observe(tm.now() - start)
        self._cached_gauge.set(len(self._cache))

    async def _run_workflow_task(
        self, task: WorkflowTask, conv: DataConverter
    ) -> CompleteWorkflowTask | FailWorkflowTask:
        defn = _workflow_lookup(self._workflows, task.workflow_type)
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
            failure = to_failure(
                conv,
                ApplicationError(
                    f"workflow type {task.workflow_type!r} is not registered on this worker "
                    f"(registered: {known})",
                    type="NotFoundError",
                ),
            )
            return FailWorkflowTask(failure=failure, cause="WorkflowTypeNotFound", **ref)
        instance = self._cache.get(task.run_id)
        hit = instance is not None and instance.last_event_id <= task.scheduled_event_id
        tm.child(tm.STICKY_CACHE, self.task_queue, "hit" if hit else "miss").inc()
        if instance is not None and hit:
            events = tuple(e for e in task.events if e.event_id > instance.last_event_id)
            task_for_instance = task.model_copy(
                update={"events": events, "first_event_id": instance.last_event_id + 1}
            )
        else:
            instance, task_for_instance = self._new_instance(defn, task, conv), task
        try:
            try:
                commands = await self._activations.activate(instance, task_for_instance)
            except StaleInstanceError:
                if task.first_event_id != 1:
                    tm.HISTORY_FETCHES.labels(self.task_queue).inc()
                    older = await fetch_older_events(self._client, task)
                    older = (await conv.decode_model(task.model_copy(update={"events": older}))).events
                    task = task.model_copy(update={"events": (*older, *task.events), "first_event_id": 1})
                instance = self._new_instance(defn, task, conv)
                commands = await self._activations.activate(instance, task)
        except Exception as exc:
            if isinstance(exc, DeadlockError):
                self._cache.drop(task.run_id)  # its thread may still be in the code: not touched
            else:
                self._cache.pop(task.run_id, None)
                self._cache.evict(instance)  # (a fresh replay that failed was never cached)
            log.warning("workflow task of %s failed: %s", task.workflow_id, exc)
            if isinstance(exc, WorkflowTaskError):
                return FailWorkflowTask(failure=exc.failure, cause=exc.task_failure_cause, **ref)
            cause = (
                "NonDeterministicError"
                if isinstance(exc, NondeterminismError)
                else "WorkflowWorkerUnhandledFailure"
            )
            return FailWorkflowTask(failure=to_failure(conv, exc), cause=cause, **ref)
        if any(isinstance(c, _CLOSE_COMMANDS) for c in commands) or (
            task.speculative and only_rejections(commands)
        ):
            # (History drops a speculative task that only rejected updates: this instance ran an
            # activation history will never show, so the next task must replay from scratch.)
            self._cache.pop(task.run_id, None)
            self._cache.evict(instance)  # when it was not cached (a fresh replay)
        else:
            self._cache[task.run_id] = instance
        return self._completion(task, instance, commands)

    def _completion(
        self, task: WorkflowTask, instance: WorkflowInstance, commands: Sequence[cmd.Command]
    ) -> CompleteWorkflowTask:
        return CompleteWorkflowTask(
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            attempt=task.attempt,
            identity=self.identity,
            commands=self._request_eager(commands, instance.activities.no_eager_ids),
            sticky_queue=self.sticky_queue,
            seen_event_id=task.events[-1].event_id if task.events else 0,
            started_time=task.started_time,
            history_size_bytes=task.history_size_bytes,
            suggest_continue_as_new=task.suggest_continue_as_new,
            current_details=instance.current_details,
        )

    def _request_eager(
        self, commands: Sequence[cmd.Command], disabled: Collection[str] = ()
    ) -> tuple[cmd.Command, ...]:
        """Ask for activities of this task queue that this worker runs to come straight back to
        it, while it has free activity slots (Temporal's eager activity execution). Slots are
        not reserved: the sticky queue's prefetch bounds what can arrive at once."""
        free = min(self._max_eager, self._free_eager_slots())
        if free <= 0:
            return tuple(commands)
        out: list[cmd.Command] = []
        for c in commands:
            if (
                free > 0
                and isinstance(c, cmd.ScheduleActivityTask)
                and c.task_queue == self.task_queue
                and c.activity_type in self._activities
                and c.activity_id not in disabled  # an interceptor's disable_eager_execution
            ):
                c = c.model_copy(update={"request_eager_execution": True})
                free -= 1
            out.append(c)
        return tuple(out)

    async def _on_query_task(self, task: QueryWorkflowTask, delivery: TaskDelivery) -> None:
        # Queries never touch history: the answer goes straight back to the waiting frontend.
        # One nobody waits for any more (past its deadline, or without a reply address) is dropped.
        if task.reply_to and task.deadline > datetime.now(UTC):
            cache = self.fused.query_cache(task)
            try:
                task = await query_with_older_events(self._client, cache, task, self.task_queue)
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
            task = await self._converter(task).decode_model(task)
            reply = answer_query(
                task,
                definitions=self._workflows,
                cache=cache if task.run_id not in self._activating else {},
                converter=self._converter(task),
                identity=self.identity,
                interceptor_classes=self._workflow_interceptors,
            )
            await self._answer(task, reply)
        await delivery.ack()

    async def _answer(self, task: QueryWorkflowTask, reply: QueryWorkflowReply) -> None:
        try:
            reply = await self._converter(task).encode_model(reply)
            await self._transport.publish(
                "", task.reply_to, reply.model_dump_json().encode(), correlation_id=task.correlation_id
            )
        except Exception:
            # The requester is gone or the broker hiccuped: the frontend times out and reports it.
            log.warning("could not answer query %s of %s", task.query_id, task.workflow_id, exc_info=True)

    def _converter(self, task: WorkflowTask | QueryWorkflowTask | ActivityTask) -> DataConverter:
        """The client's converter with the run's serialization context, as temporalio gives it."""
        context = WorkflowSerializationContext(namespace=task.namespace, workflow_id=task.workflow_id)
        return self._client.data_converter.with_context(context)

    def _new_instance(
        self, defn: _workflow.WorkflowDefinition, task: WorkflowTask, conv: DataConverter
    ) -> WorkflowInstance:
        return WorkflowInstance(
            definition=defn,
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            converter=conv,
            failure_exception_types=self._failure_types,
            interceptor_classes=self._workflow_interceptors,
            patch_activation_callback=self._patch_activation_callback,
        )


def _started(task: WorkflowTask, taken: datetime) -> WorkflowTask:
    """The task with the time this worker took it, never before its WorkflowTaskScheduled (a
    clock behind history's, or a time-skipping test server ahead of the wall clock)."""
    scheduled = next((e.event_time for e in task.events if e.event_id == task.scheduled_event_id), None)
    if scheduled is not None:
        scheduled = scheduled if scheduled.tzinfo else scheduled.replace(tzinfo=UTC)
        taken = max(taken, scheduled)
    return task.model_copy(update={"started_time": taken})
