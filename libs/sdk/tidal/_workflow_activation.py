"""Running one activation of a workflow instance: its code on a workflow thread, so code that
blocks (time.sleep, sync I/O, a busy loop) is caught as a potential deadlock instead of freezing
the worker's event loop, and the local activities it asks for on the loop in between. The
workflow half (`_workflow_worker`) and the fused completion (`_fused_completion`) both activate
through it."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidal_schema import commands as cmd
from tidal_schema.messages import WorkflowTask

from . import activity as _activity
from ._interceptors import Interceptor
from ._local_activities import run_local_activity
from ._runtime import WorkflowInstance
from ._runtime.local_activities import LocalActivityOutcome, LocalActivityRequest
from ._worker_errors import DeadlockError
from .converter import DataConverter

__all__ = ["SYNC_ACTIVATION_WAIT_SECONDS", "Activations"]

# How long the loop's thread waits, blocked with the GIL released, for an activation on the
# workflow thread before awaiting it: the usual activation (0.1-0.2 ms) then comes back without
# the wake-ups of a thread-safe callback (the thread's write to the loop's self-pipe, the loop's
# wake from epoll, a turn of the loop), about 0.05-0.1 ms per activation. Only while no other
# activation of this worker is in flight (one at a time); a slower activation (code that blocks
# included) is awaited as before, under the deadlock timeout (docs/performance.md, "Embedded
# mode", session 13).
SYNC_ACTIVATION_WAIT_SECONDS = 0.001


class Activations:
    def __init__(
        self,
        *,
        deadlock_seconds: float | None,
        max_concurrent_workflow_tasks: int,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None,
        activities: Mapping[str, _activity.ActivityDefinition],
        activity_executor: concurrent.futures.Executor | None,
        interceptors: Sequence[Interceptor],
        converter: Callable[[WorkflowTask], DataConverter],
        max_concurrent_local_activities: int,
    ) -> None:
        """`deadlock_seconds`: None runs the code on the loop's thread, undetected (debug mode);
        `converter`: the run's, for its local activities."""
        self._deadlock_seconds = deadlock_seconds
        self._activities = activities
        self._executor = activity_executor
        self._interceptors = tuple(interceptors)
        self._converter = converter
        self._local_slots = asyncio.Semaphore(max_concurrent_local_activities)
        # Runs whose cached instance is being activated on a workflow thread right now: a query
        # must not read that instance mid-activation (it replays a throwaway copy instead), and
        # an eviction must not tear it down.
        self.activating: set[str] = set()
        self.threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._own_threads = workflow_task_executor is None
        if deadlock_seconds is not None and workflow_task_executor is not None:
            self.threads = workflow_task_executor
        elif deadlock_seconds is not None:
            self.threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=min(max_concurrent_workflow_tasks, 16), thread_name_prefix="tidal-workflow"
            )

    def close(self) -> None:
        if self.threads is not None and self._own_threads:
            # wait=False: a thread stuck in deadlocked workflow code must not hang shutdown.
            self.threads.shutdown(wait=False, cancel_futures=True)
        self.threads = None

    async def activate(self, instance: WorkflowInstance, task: WorkflowTask) -> tuple[cmd.Command, ...]:
        commands = await self._in_workflow_thread(instance.activate, task, task)
        # Local activities run here, inside the task; their markers and what the code does next
        # join the task's commands (docs/activities.md).
        while pending := instance.local_activities.pending():
            outcomes = await asyncio.gather(*(self._run_local_activity(req, task) for req in pending))
            commands += await self._in_workflow_thread(instance.resolve_local_activities, outcomes, task)
        return commands

    async def _run_local_activity(
        self, req: LocalActivityRequest, task: WorkflowTask
    ) -> LocalActivityOutcome:
        async with self._local_slots:  # max_concurrent_local_activities
            return await run_local_activity(
                req,
                task=task,
                activities=self._activities,
                executor=self._executor,
                converter=self._converter(task),
                interceptors=self._interceptors,
            )

    async def _in_workflow_thread(
        self, fn: Callable[[Any], tuple[cmd.Command, ...]], arg: Any, task: WorkflowTask
    ) -> tuple[cmd.Command, ...]:
        if self.threads is None:
            return fn(arg)
        alone = not self.activating
        work = self.threads.submit(fn, arg)
        if alone:
            try:
                return work.result(timeout=SYNC_ACTIVATION_WAIT_SECONDS)
            except concurrent.futures.TimeoutError:
                pass  # still running (or blocked): awaited below, under the deadlock timeout
        fut = asyncio.wrap_future(work)
        self.activating.add(task.run_id)
        try:
            # Not asyncio.wait_for (Python 3.11 swallows a cancel that comes in the turn the
            # thread answers); shielded: the thread runs on regardless, the deadlock abandons it.
            async with asyncio.timeout(self._deadlock_seconds):
                return await asyncio.shield(fut)
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
            self.activating.discard(task.run_id)
