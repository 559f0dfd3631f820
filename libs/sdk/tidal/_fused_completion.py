"""The fused completion, the worker's side (docs/performance.md, "The fused completion ...
worker side"): an eager attempt's result of a run this worker holds carries the completion of
the workflow task history would send next, which the worker runs itself on its cached instance
(`_fused_task.py` builds that task). The instance is then ahead of history until the worker
learns the verdict from what history sends next for the run; refused or unknown, it is dropped
and the run replays from history. The workflow half (`_workflow_worker.py`) owns the cache;
`_workflow_activation.py` is the activation path this uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ActivityTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    QueryWorkflowTask,
    WorkflowTask,
)

from . import _telemetry as tm
from ._fused_task import FusedBase, fused_task, fused_verdict, why_not_fused
from ._run_cache import RunCache
from ._runtime import WorkflowInstance
from ._worker_errors import DeadlockError
from .converter import DataConverter

__all__ = ["FusedCompletion", "FusedCompletions"]

log = logging.getLogger("tidal.worker")

_CLOSE_COMMANDS = (
    cmd.CompleteWorkflowExecution,
    cmd.FailWorkflowExecution,
    cmd.CancelWorkflowExecution,
    cmd.ContinueAsNewWorkflowExecution,
)


@dataclass(frozen=True)
class FusedCompletion:
    """The workflow task a worker ran itself on an activity result, to ride on that result's
    CompleteActivityTask; `converter`: the run's, to encode it with."""

    completion: CompleteWorkflowTask
    converter: DataConverter


class FusedCompletions:
    def __init__(
        self,
        *,
        enabled: bool,
        task_queue: str,
        identity: str,
        cache: RunCache,
        busy: Callable[[str], bool],
        activate: Callable[[WorkflowInstance, WorkflowTask], Awaitable[tuple[cmd.Command, ...]]],
        converter: Callable[[ActivityTask], DataConverter],
        completion: Callable[[WorkflowTask, WorkflowInstance, Sequence[cmd.Command]], CompleteWorkflowTask],
    ) -> None:
        """`busy(run_id)`: a workflow task of the run is being processed; `activate`, `converter`
        and `completion`: the workflow half's activation path, run converter and completion."""
        self.enabled = enabled
        self._task_queue = task_queue
        self._identity = identity
        self._cache = cache
        self._busy = busy
        self._activate = activate
        self._converter = converter
        self._completion = completion
        # Runs whose fused task is being run: a workflow task of the run that arrives meanwhile
        # waits for it (one activation of a run at a time).
        self._fusing: dict[str, asyncio.Event] = {}

    async def wait_idle(self, run_id: str) -> None:
        while (gate := self._fusing.get(run_id)) is not None:
            await gate.wait()

    async def fuse(
        self,
        attempt: ActivityTask,
        completion: CompleteActivityTask,
        activity_conv: DataConverter,
        headers: Mapping[str, Any],
        *,
        siblings: bool = False,
    ) -> FusedCompletion | None:
        """Run the workflow task history would send after `completion` of an eager `attempt`,
        on the run's cached instance, when the contract allows it; None: send the result alone.
        `siblings`: another attempt of the run is running on this worker."""
        instance = self._cache.get(attempt.run_id)
        reason = "siblings" if siblings else self._why_not(instance, attempt)
        if reason is not None or instance is None:
            tm.child(tm.FUSED_COMPLETIONS, self._task_queue, f"skipped_{reason}").inc()
            return None
        gate = self._fusing[attempt.run_id] = asyncio.Event()
        try:
            fused = await self._run(instance, attempt, completion, activity_conv, headers)
        except Exception:
            # A bug or a codec failure: the result goes alone, and the instance, which may have
            # run ahead, goes (the task history sends replays).
            log.warning("fused workflow task of %s not sent", attempt.workflow_id, exc_info=True)
            self._cache.pop(attempt.run_id, None)
            self._cache.evict(instance)
            fused = None
        finally:
            del self._fusing[attempt.run_id]
            gate.set()
        tm.child(tm.FUSED_COMPLETIONS, self._task_queue, "sent" if fused else "skipped_failed").inc()
        return fused

    def _why_not(self, instance: WorkflowInstance | None, attempt: ActivityTask) -> str | None:
        if not self.enabled:
            return "disabled"
        if instance is None:
            return "not_cached"
        run = attempt.run_id
        if self._busy(run) or run in self._fusing or instance.fused_at:
            return "busy"  # (fused_at: an earlier fused task's verdict is not known yet)
        if instance.alone_at == instance.activated_upto:
            return "history_moved"  # a result of the run went alone since its last task
        if instance.state.info is None:
            return "not_started"
        return why_not_fused(_base(instance), attempt)

    async def _run(
        self,
        instance: WorkflowInstance,
        attempt: ActivityTask,
        completion: CompleteActivityTask,
        activity_conv: DataConverter,
        headers: Mapping[str, Any],
    ) -> FusedCompletion | None:
        start = tm.now()
        conv = self._converter(attempt)
        if activity_conv.payload_codec is not None or conv.payload_codec is not None:
            # The result as the workflow reads it from history: encoded in the activity's
            # context, decoded in the run's.
            completion = await conv.decode_model(await activity_conv.encode_model(completion))
        # Never before the attempt's hand-out by history's clock (a clock behind history's, or a
        # time-skipping test server ahead of the wall clock): history records the task's start
        # within that bound, and a replay reads what it recorded.
        handed_out = attempt.current_attempt_scheduled_time
        handed_out = handed_out if handed_out.tzinfo else handed_out.replace(tzinfo=UTC)
        now = max(datetime.now(UTC), handed_out)
        task = fused_task(_base(instance), attempt, completion, identity=self._identity, now=now)
        attributes = {"tidal.workflow_type": task.workflow_type, "tidal.workflow_id": task.workflow_id}
        with tm.task_span(f"RunWorkflow:{task.workflow_type}", headers, attributes):
            try:
                commands = await self._activate(instance, task)
            except Exception as exc:
                # History never sees this task: the result goes alone, history schedules the
                # task, and a fresh replay runs it (and reports its failure, if it fails again).
                if isinstance(exc, DeadlockError):
                    self._cache.drop(task.run_id)  # its thread may still be in the code
                else:
                    self._cache.pop(task.run_id, None)
                    self._cache.evict(instance)
                log.info("fused workflow task of %s not sent: %s", task.workflow_id, exc)
                return None
        if any(isinstance(c, _CLOSE_COMMANDS) for c in commands):
            self._cache.pop(task.run_id, None)
            self._cache.evict(instance)
        else:
            instance.fused_at = attempt.next_event_id  # ahead of history until the verdict
        tm.child(tm.WORKFLOW_TASKS, self._task_queue, task.workflow_type, "completed").inc()
        tm.child(tm.WORKFLOW_TASK_SECONDS, self._task_queue, task.workflow_type).observe(tm.now() - start)
        return FusedCompletion(self._completion(task, instance, commands), conv)

    def result_alone(self, run_id: str) -> None:
        """An outcome of the run went to history alone (a plain result, a failure): history
        moves past what the instance's last task left, so no result may fuse until its next
        task (the second of two parallel activities would only be refused, and replay)."""
        instance = self._cache.get(run_id)
        if instance is not None:
            instance.alone_at = instance.activated_upto

    # --- the verdict ------------------------------------------------------------------------

    def note_eager_activity(self, attempt: ActivityTask) -> None:
        """An eager attempt arrived on the sticky queue: one scheduled by a fused task's own
        commands proves history accepted it (after a refusal the worker gets the workflow task,
        and replays, before any eager attempt of its commands can come)."""
        instance = self._cache.get(attempt.run_id)
        s = instance.fused_at if instance is not None else 0
        if instance is not None and s and attempt.next_event_id and attempt.scheduled_event_id > s + 3:
            instance.fused_at = 0
            tm.child(tm.FUSED_VERDICTS, self._task_queue, "accepted").inc()

    def check_task(self, task: WorkflowTask) -> None:
        """A workflow task of a run whose cached instance ran ahead: keep it only if the task
        shows history accepted the fused task, else drop it (the task replays from history: a
        refused task has the very ids the instance assumed, so it must not take the cache)."""
        instance = self._cache.get(task.run_id)
        if instance is None or not instance.fused_at:
            return
        if fused_verdict(task.events, instance.fused_at, self._identity):
            instance.fused_at = 0
            tm.child(tm.FUSED_VERDICTS, self._task_queue, "accepted").inc()
            return
        tm.child(tm.FUSED_VERDICTS, self._task_queue, "refused").inc()
        self._cache.pop(task.run_id, None)
        self._cache.evict(instance)

    def query_cache(self, task: QueryWorkflowTask) -> MutableMapping[str, WorkflowInstance]:
        """Where a query may find the run's instance: not one ahead of history (a query sees the
        last completed task, as in Temporal) unless the query's history shows it accepted."""
        instance = self._cache.get(task.run_id)
        if instance is None or not instance.fused_at:
            return self._cache
        if fused_verdict(task.events, instance.fused_at, self._identity):
            instance.fused_at = 0
            tm.child(tm.FUSED_VERDICTS, self._task_queue, "accepted").inc()
            return self._cache
        return {}


def _base(instance: WorkflowInstance) -> FusedBase:
    info = instance.info
    return FusedBase(
        last_event_id=instance.last_event_id,
        activated_upto=instance.activated_upto,
        commands=instance.last_commands,
        history_size=instance.current_history_size,
        continue_as_new_suggested=instance.continue_as_new_suggested,
        task_queue=info.task_queue,
        task_timeout=info.task_timeout or timedelta(seconds=10),
    )
