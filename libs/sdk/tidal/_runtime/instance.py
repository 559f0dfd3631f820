"""One workflow run, executed deterministically from its history.

The worker calls `activate(task)` with the events of a workflow task. Events are walked in order:
events the server writes on its own (activity results, timer fires, signals...) are buffered as
jobs; each `WorkflowTaskCompleted` of a task this instance has not run yet triggers a *replay*
activation (jobs applied, code run until idle, commands queued as unconfirmed); command events
must then match those unconfirmed commands; the task's own `WorkflowTaskScheduled` (always the
last event) triggers the *new* activation whose commands `activate` returns. A cached (sticky)
instance is handed only the events after `last_event_id`, and confirms the commands it returned
last time when they come back as events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tidal_schema import Failure, Payload, events
from tidal_schema.commands import (
    CancelWorkflowExecution,
    Command,
    CompleteWorkflowExecution,
    ContinueAsNewWorkflowExecution,
    FailWorkflowExecution,
    ProtocolMessage,
)
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import UpdateRequest, WorkflowTask

from .. import exceptions as exc_mod
from .._definitions import WorkflowDefinition
from .._search_attributes import TypedSearchAttributes
from .._workflow_continue import ContinueAsNewError
from .._workflow_info import Info, ParentInfo, RootInfo
from ..common import Priority, RawValue, RetryPolicy
from ..converter import DataConverter
from ..exceptions import ActivityError, FailureError, NondeterminismError, error_to_failure, failure_to_error
from . import local_activities, matching, update
from .children import CHILD_JOB_EVENTS, ChildServices
from .handlers import HandlerServices
from .services import WorkflowServices, _Activity


class WorkflowTaskError(exc_mod.TidalError):
    """The workflow *task* failed (the workflow did not): report `FailWorkflowTask(failure=...,
    cause=...)`, evict the instance, and let the server retry the task. The original exception
    (a bug in workflow code, a NondeterminismError) is `__cause__`."""

    def __init__(self, message: str, *, failure: Failure, cause: str = "WorkflowWorkerUnhandledFailure"):
        super().__init__(message)
        self.failure = failure
        # FailWorkflowTask's cause (a string); `.cause` is the chained error, as on every TidalError.
        self.task_failure_cause = cause


class StaleInstanceError(exc_mod.TidalError):
    """This cached instance cannot apply the task (events do not follow `last_event_id`, or a task it
    completed itself failed or timed out). Evict it and replay the run from its full history."""


class WorkflowInstance(WorkflowServices, ChildServices, HandlerServices):
    def __init__(
        self,
        *,
        definition: WorkflowDefinition,
        namespace: str,
        workflow_id: str,
        run_id: str,
        converter: DataConverter | None = None,
        failure_exception_types: Sequence[type[BaseException]] = (),
    ) -> None:
        super().__init__(run_id=run_id, converter=converter)
        self.definition = definition
        # The worker's types plus the workflow's own (`@workflow.defn(failure_exception_types=)`).
        self._worker_failure_types = tuple(failure_exception_types)
        self._failure_types = self._worker_failure_types + definition.failure_exception_types
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self._last_event_id = 0
        self._activated_upto = 0  # scheduled event id of the last task this instance ran
        self._task_times: dict[int, datetime] = {}
        self._jobs: list[HistoryEvent] = []
        self._unconfirmed: deque[Command] = deque()
        self._object: Any = None
        self._run_task: asyncio.Task[Any] | None = None
        self._closed = False
        self._cancel_requested = False
        # The reason of the cancel request (temporalio's `workflow.cancellation_reason()`).
        self.cancellation_reason: str | None = None
        self._workflow_failure: BaseException | None = None  # FailureError from a handler
        self._poisoned = False
        self._last_commands: tuple[Command, ...] = ()
        self._activity_by_event: dict[int, str] = {}
        self._task_updates: tuple[UpdateRequest, ...] = ()  # the new activation's updates
        self._replay_updates: tuple[UpdateRequest, ...] = ()  # accepted in the task being replayed
        self._history_length = 0  # as of the current activation's WorkflowTaskScheduled
        # (history bytes, continue-as-new suggested) of the current activation; what the new task
        # says, and per scheduled event id what replayed tasks' WorkflowTaskStarted recorded.
        self._history_size: tuple[int, bool] = (0, False)
        self._task_history_size: tuple[int, bool] = (0, False)
        self._started_sizes: dict[int, tuple[int, bool]] = {}
        self._task_started_time: datetime | None = None  # when the worker took the new task
        self._init_children()
        self._init_handlers(definition)
        self.last_failure: Failure | None = None
        self.last_completion_result: tuple[Payload, ...] = ()

    # --- the worker's API -------------------------------------------------------------------

    @property
    def last_event_id(self) -> int:
        return self._last_event_id

    @property
    def is_closed(self) -> bool:
        """The run produced its closing command (complete, fail, cancel, continue-as-new)."""
        return self._closed

    def activate(self, task: WorkflowTask) -> tuple[Command, ...]:
        """Apply the task's events and return the commands of the new activation.

        Raises WorkflowTaskError (report FailWorkflowTask) or StaleInstanceError (replay from the
        full history); either way this instance must be dropped afterwards."""
        if self._poisoned:
            raise StaleInstanceError("instance already failed a task; build a new one")
        evs = tuple(e for e in task.events if e.event_id > self._last_event_id)
        if task.scheduled_event_id <= self._activated_upto:
            if task.scheduled_event_id == self._activated_upto and not evs:
                # A redelivered copy of the task this instance just ran (delivery is at least
                # once): answer it the same way instead of running the code twice.
                return self._last_commands
            # The same task again with inputs history wrote before it started, which this
            # instance's activation did not see (api/complete_workflow_task.py in history).
            raise StaleInstanceError(f"task {task.scheduled_event_id} came again with more events")
        if not evs or evs[0].event_id != self._last_event_id + 1:
            got = evs[0].event_id if evs else None
            raise StaleInstanceError(
                f"task events start at {got}, instance expects {self._last_event_id + 1}"
            )
        if not _task_shape_ok(evs, task.scheduled_event_id):
            raise StaleInstanceError(
                f"task must hold its WorkflowTaskScheduled {task.scheduled_event_id}, followed only "
                "by inputs written before it started"
            )
        self._task_updates = task.updates
        self._task_history_size = (task.history_size_bytes, task.suggest_continue_as_new)
        self._task_started_time = task.started_time
        # The worker calls us from inside its own asyncio loop, in the same thread: swap ours in so
        # asyncio functions used by workflow code resolve to the deterministic loop, then restore.
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self._loop)
        try:
            self._last_commands = self._apply_events(evs, task_scheduled=task.scheduled_event_id)
            return self._last_commands
        except WorkflowTaskError:
            self._poisoned = True
            raise
        except StaleInstanceError:
            self._poisoned = True
            raise
        except NondeterminismError as e:
            self._poisoned = True
            if isinstance(e, self._failure_types):
                return (FailWorkflowExecution(failure=error_to_failure(e)),)
            raise WorkflowTaskError(str(e), failure=error_to_failure(e), cause="NonDeterministicError") from e
        except Exception as e:
            self._poisoned = True
            raise WorkflowTaskError(f"workflow task failed: {e!r}", failure=error_to_failure(e)) from e
        finally:
            asyncio.events._set_running_loop(outer)

    def is_failure_exception(self, err: BaseException) -> bool:
        """`workflow.is_failure_exception`: `err` fails the workflow, not only the task."""
        return isinstance(err, (FailureError, *self._failure_types))

    @property
    def workflow_object(self) -> Any:
        """The `@workflow.defn` class's instance (`workflow.instance()`); None before the start."""
        return self._object

    @property
    def current_history_length(self) -> int:
        """`workflow.info().get_current_history_length()`: the same on first run and replay."""
        return self._history_length

    @property
    def current_history_size(self) -> int:
        """`workflow.info().get_current_history_size()`: the same on first run and replay."""
        return self._history_size[0]

    @property
    def continue_as_new_suggested(self) -> bool:
        """`workflow.info().is_continue_as_new_suggested()`: the same on first run and replay."""
        return self._history_size[1]

    @property
    def activated_upto(self) -> int:
        """Scheduled event id of the last workflow task this instance ran (0: none yet)."""
        return self._activated_upto

    def catch_up(self, evs: Sequence[HistoryEvent]) -> None:
        """Replay a whole history (from event 1) for a query, without running the pending
        workflow task: the state is the one of the last completed task. A run whose first task
        has not completed yet gets its first activation anyway (its commands are discarded), so
        a query sees the initialised workflow rather than nothing. Only for throwaway instances.
        Raises WorkflowTaskError when the workflow code fails while replaying."""
        from .query import replay_for_query  # the query support lives in its own module

        replay_for_query(self, evs)

    def resolve_local_activities(
        self, outcomes: Sequence[local_activities.LocalActivityOutcome]
    ) -> tuple[Command, ...]:
        """The worker ran the pending local activities: record their markers, resume the code, and
        return the commands that follow (to append to the task's commands)."""
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self._loop)
        try:
            for outcome in sorted(outcomes, key=lambda o: o.seq):
                self._resolve_local(outcome)
            self._run_until_idle()
            self._check_outcome()
            produced, self._commands = self._commands, []
            self._unconfirmed.extend(produced)
            self._last_commands = (*self._last_commands, *produced)
            return tuple(produced)
        except WorkflowTaskError:
            self._poisoned = True
            raise
        except Exception as e:
            self._poisoned = True
            raise WorkflowTaskError(f"workflow task failed: {e!r}", failure=error_to_failure(e)) from e
        finally:
            asyncio.events._set_running_loop(outer)

    def query(self, name: str, args: Sequence[Payload] = ()) -> Payload:
        """Run a query handler against the current state (read-only; no commands).

        Raises `query.QueryError` (unknown name, bad arguments, not started, a handler that
        tried to issue a command) or whatever the handler raised."""
        from .query import run_query

        return run_query(self, name, args)

    # --- walking history --------------------------------------------------------------------

    def _apply_events(
        self, evs: Sequence[HistoryEvent], *, run_last: bool = True, task_scheduled: int = 0
    ) -> tuple[Command, ...]:
        """Walk `evs`; with `run_last` (a workflow task) the task `task_scheduled` is activated
        and its commands returned, without (a query's catch-up) nothing new runs."""
        for i, ev in enumerate(evs):
            a = ev.attributes
            self._last_event_id = ev.event_id
            if a.type == "WorkflowTaskScheduled":
                self._task_times[ev.event_id] = ev.event_time
            elif a.type == "WorkflowTaskStarted":
                self._started_sizes[a.scheduled_event_id] = (a.history_size_bytes, a.suggest_continue_as_new)
                if a.started_time is not None:  # older histories: the scheduled time stays
                    self._task_times[a.scheduled_event_id] = a.started_time
            elif a.type == "WorkflowTaskCompleted":
                if a.scheduled_event_id > self._activated_upto:
                    self._patches_in_task = self._patch_ids_ahead(evs[i + 1 :])
                    self._replay_updates = update.accepted_ahead(evs[i + 1 :])
                    self._la_markers = local_activities.markers_ahead(evs[i + 1 :], matching.COMMAND_EVENTS)
                    # Inputs written before the task started (up to its WorkflowTaskStarted) were
                    # part of its activation, as on the first run (the task carried them).
                    self._activate(
                        ev,
                        replaying=True,
                        scheduled_event_id=a.scheduled_event_id,
                        upto=a.started_event_id or a.scheduled_event_id,
                    )
            elif a.type in ("WorkflowTaskFailed", "WorkflowTaskTimedOut"):
                # A failed attempt's activation does not count, unless this instance ran it: then its
                # state is ahead of history and only a replay from scratch can recover.
                if a.scheduled_event_id == self._activated_upto:
                    raise StaleInstanceError(
                        f"workflow task {a.scheduled_event_id} run by this instance failed"
                    )
            elif a.type in matching.COMMAND_EVENTS:
                self._confirm(ev)
            elif a.type in matching.JOB_EVENTS:
                self._jobs.append(ev)
            # Anything else (WorkflowTaskStarted, ActivityTaskStarted, updates...) needs no action.
        if not run_last:
            return ()
        # The new activation: the task's WorkflowTaskScheduled and the inputs written after it
        # before it started (the task's last events).
        return tuple(
            self._activate(
                evs[-1], replaying=False, scheduled_event_id=task_scheduled, upto=evs[-1].event_id + 1
            )
        )

    @staticmethod
    def _patch_ids_ahead(evs: Sequence[HistoryEvent]) -> set[str]:
        """Patch markers among the command events that follow a WorkflowTaskCompleted: on replay,
        `patched(id)` is true only if the original run recorded it in this task."""
        ids: set[str] = set()
        for ev in evs:
            if ev.event_type not in matching.COMMAND_EVENTS:
                break
            if (pid := matching.patch_id(ev)) is not None:
                ids.add(pid)
        return ids

    def _confirm(self, ev: HistoryEvent) -> None:
        head = self._unconfirmed[0] if self._unconfirmed else None
        if head is None or not matching.matches(ev, head):
            # A patch marker whose patched()/deprecate_patch() call was since removed is fine.
            if matching.patch_id(ev) is not None:
                return
            raise matching.mismatch(ev, head)
        self._unconfirmed.popleft()
        self._child_confirmed(ev, head)
        a = ev.attributes
        if isinstance(a, events.ActivityTaskScheduled):
            self._activities[a.activity_id].scheduled_event_id = ev.event_id
            self._activity_by_event[ev.event_id] = a.activity_id

    # --- activations ------------------------------------------------------------------------

    def _activate(
        self,
        ev: HistoryEvent,
        *,
        replaying: bool,
        scheduled_event_id: int | None = None,
        upto: int | None = None,
    ) -> list[Command]:
        """`upto`: the first event id the activation does not see (its WorkflowTaskStarted on
        replay; by default its WorkflowTaskScheduled)."""
        if self._unconfirmed:
            raise matching.unmatched(list(self._unconfirmed), ev)
        sched = scheduled_event_id or ev.event_id
        self.is_replaying = replaying
        if not replaying:
            self._patches_in_task = set()
        # Workflow time is the time the task started (Temporal's): on a first run when this worker
        # took it, on replay what its WorkflowTaskStarted recorded (the scheduled time for tasks
        # of histories from before that was recorded, and for throwaway query replays).
        t = self._task_times.get(sched, ev.event_time)
        if not replaying and self._task_started_time is not None:
            t = self._task_started_time
        self._now = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
        self._loop.set_time(self._now.timestamp())
        seen_below = upto or sched
        self._activated_upto = sched
        self._history_length = sched
        if replaying:
            self._history_size = self._started_sizes.pop(sched, (0, False))
        else:
            self._history_size = self._task_history_size
        self._task_times = {k: v for k, v in self._task_times.items() if k > sched}
        # Jobs written after the task started were not seen by it: they wait for the next one.
        jobs = [j for j in self._jobs if j.event_id < seen_below]
        self._jobs = [j for j in self._jobs if j.event_id >= seen_below]
        for job in jobs:
            self._apply_job(job)
        if replaying:
            update.deliver(self, self._replay_updates, validate=False)
            self._replay_updates = ()
        else:
            update.deliver(self, self._task_updates, validate=True)
            self._task_updates = ()
        self._run_until_idle()
        self._check_outcome()
        produced, self._commands = self._commands, []
        # Update protocol messages have no command events to match (a rejection has none at all).
        self._unconfirmed.extend(c for c in produced if not isinstance(c, ProtocolMessage))
        return produced

    def _run_until_idle(self) -> None:
        while True:
            self._loop.run_ready()
            progressed = False
            for cond in list(self._conditions):
                fn, fut = cond
                if fut.done():  # e.g. cancelled by a wait_condition timeout
                    self._conditions.remove(cond)
                    continue
                try:
                    ok = fn()
                except Exception as e:
                    self._conditions.remove(cond)
                    fut.set_exception(e)
                    progressed = True
                    continue
                if ok:
                    self._conditions.remove(cond)
                    fut.set_result(True)
                    progressed = True
            if not progressed and not self._loop.has_ready():
                if self._resolve_replayed_local_activities():
                    continue
                return

    def _check_outcome(self) -> None:
        if self._task_failure is not None and not isinstance(self._task_failure, self._failure_types):
            e = self._task_failure
            raise WorkflowTaskError(f"workflow code raised {e!r}", failure=error_to_failure(e)) from e
        if self._task_failure is not None and not self._closed:
            self._close(FailWorkflowExecution(failure=error_to_failure(self._task_failure)))
            return
        if self._closed:
            return
        if self._workflow_failure is not None:
            self._close(FailWorkflowExecution(failure=error_to_failure(self._workflow_failure)))
            return
        task = self._run_task
        if task is None or not task.done():
            return
        if task.cancelled():
            if self._cancel_requested:
                self._close(CancelWorkflowExecution())
            else:
                failure = error_to_failure(exc_mod.CancelledError("Workflow cancelled itself"))
                self._close(FailWorkflowExecution(failure=failure))
            return
        err = task.exception()
        if err is None:
            self._close(CompleteWorkflowExecution(result=self.converter.to_payloads([task.result()])))
        elif isinstance(err, ContinueAsNewError):
            info = self.info
            self._close(
                ContinueAsNewWorkflowExecution(
                    workflow_type=err.workflow or info.workflow_type,
                    task_queue=err.task_queue or info.task_queue,
                    input=self.converter.to_payloads(err.input_args),
                    workflow_run_timeout=err.run_timeout or info.run_timeout,
                    workflow_task_timeout=err.task_timeout or info.task_timeout,
                    backoff_start_interval=err.backoff_start_interval,
                    retry_policy=err.retry_policy.to_schema() if err.retry_policy else None,
                    memo=(
                        {k: self.converter.to_payload(v) for k, v in err.memo.items()}
                        if err.memo is not None
                        else None
                    ),
                    search_attributes=dict(err.search_attributes)
                    if err.search_attributes is not None
                    else None,
                )
            )
        elif self._cancel_requested and _is_cancellation(err):
            self._close(CancelWorkflowExecution())
        elif isinstance(err, (FailureError, *self._failure_types)):
            self._close(FailWorkflowExecution(failure=error_to_failure(err)))
        else:
            # Temporal semantics: a non-Failure exception is a bug, so fail the task (it is retried
            # and can succeed after a fix) rather than the workflow.
            raise WorkflowTaskError(f"workflow code raised {err!r}", failure=error_to_failure(err)) from err

    def _close(self, cmd: Command) -> None:
        self._closed = True
        self._commands.append(cmd)
        self.warn_unfinished_handlers()

    # --- jobs -------------------------------------------------------------------------------

    def _apply_job(self, ev: HistoryEvent) -> None:
        a = ev.attributes
        if isinstance(a, events.WorkflowExecutionStarted):
            self._start(ev, a)
        elif isinstance(a, events.WorkflowExecutionSignaled):
            self._signal(a)
        elif isinstance(a, events.WorkflowExecutionCancelRequested):
            self._cancel_requested = True
            self.cancellation_reason = a.cause
            if self._run_task is not None and not self._run_task.done():
                self._run_task.cancel()
        elif isinstance(a, events.ActivityTaskCompleted):
            act = self._activity_done(ev, a.scheduled_event_id)
            if not act.future.done():
                payloads = a.result[:1]
                value = self.converter.from_payloads(payloads, [act.result_type])[0] if payloads else None
                act.future.set_result(value)
        elif isinstance(
            a, events.ActivityTaskFailed | events.ActivityTaskTimedOut | events.ActivityTaskCanceled
        ):
            act = self._activity_done(ev, a.scheduled_event_id)
            if not act.future.done():
                error = ActivityError(
                    "Activity task failed" if a.type != "ActivityTaskCanceled" else "Activity task cancelled",
                    scheduled_event_id=a.scheduled_event_id,
                    started_event_id=a.started_event_id,
                    activity_type=act.activity_type,
                    activity_id=act.activity_id,
                    retry_state=getattr(a, "retry_state", None),
                )
                if isinstance(a, events.ActivityTaskCanceled):
                    error.__cause__ = exc_mod.CancelledError(
                        "Activity cancelled", *[p.data for p in a.details]
                    )
                else:
                    error.__cause__ = failure_to_error(a.failure)
                act.future.set_exception(error)
        elif isinstance(a, events.TimerFired):
            handle = self._timers.pop(a.timer_id, None)
            if handle is not None:  # None: cancelled by the code since
                self._timer_of_handle.pop(id(handle), None)
                self._loop.fire(handle)
        elif a.type in CHILD_JOB_EVENTS:
            self._child_job(ev)

    def _activity_done(self, ev: HistoryEvent, scheduled_event_id: int) -> _Activity:
        """The activity a terminal activity event is about (forgotten afterwards: it is final)."""
        aid = self._activity_by_event.pop(scheduled_event_id, None)
        if aid is None:
            raise NondeterminismError(
                f"Nondeterminism: history event {ev.event_id} {ev.event_type} refers to activity scheduled "
                f"at event {scheduled_event_id}, which the workflow code never scheduled; {matching.ADVICE}"
            )
        return self._activities.pop(aid)

    def _start(self, ev: HistoryEvent, a: events.WorkflowExecutionStarted) -> None:
        self._info = Info(
            attempt=a.attempt,
            continued_run_id=a.continued_execution_run_id,
            cron_schedule=a.cron_schedule,
            execution_timeout=a.workflow_execution_timeout,
            first_execution_run_id=a.first_execution_run_id or self.run_id,
            headers=dict(a.header),
            namespace=self.namespace,
            original_execution_run_id=a.original_execution_run_id or self.run_id,
            parent=(
                ParentInfo(namespace=self.namespace, run_id=a.parent_run_id, workflow_id=a.parent_workflow_id)
                if a.parent_workflow_id and a.parent_run_id
                else None
            ),
            root=(
                RootInfo(run_id=a.root_run_id, workflow_id=a.root_workflow_id)
                if a.root_workflow_id and a.root_run_id
                else None
            ),
            priority=Priority.from_schema(a.priority),
            raw_memo=dict(a.memo),
            retry_policy=RetryPolicy.from_schema(a.retry_policy) if a.retry_policy else None,
            run_id=self.run_id,
            run_timeout=a.workflow_run_timeout,
            search_attributes=dict(a.search_attributes),
            # temporalio's: the first workflow task's time (this activation's), while
            # workflow_start_time is the start event's.
            start_time=self._now,
            task_queue=a.task_queue,
            task_timeout=a.workflow_task_timeout,
            typed_search_attributes=TypedSearchAttributes.from_json(a.search_attributes),
            workflow_id=self.workflow_id,
            workflow_start_time=ev.event_time,
            workflow_type=a.workflow_type,
        )
        # What the previous attempt or cron run left (workflow.get_last_failure & co).
        self.last_failure = a.continued_failure
        self.last_completion_result = a.last_completion_result
        d = self.definition
        args: list[Any]
        if d.dynamic:
            args = [[RawValue(p) for p in a.input]]
        else:
            args = self.converter.from_payloads(a.input, d.arg_types)
        try:
            self._object = d.cls(*args) if d.init_takes_args else d.cls()
            if d.dynamic_config_fn is not None:
                config = d.dynamic_config_fn(self._object)
                if config.failure_exception_types is not None:
                    self._failure_types = self._worker_failure_types + tuple(config.failure_exception_types)
        except BaseException as e:
            # Treated like an exception from run(): FailureError fails the workflow, others the task.
            error = e

            async def raise_init_error() -> Any:
                raise error

            self._run_task = self._loop.create_task(raise_init_error())
            return
        self._run_task = self._loop.create_task(d.run_fn(self._object, *args), name=f"workflow:{d.name}")

    def _handler_failed(self, e: BaseException) -> None:
        if isinstance(e, FailureError):
            self._workflow_failure = self._workflow_failure or e
        else:
            self._task_failure = self._task_failure or e


def _is_cancellation(err: BaseException) -> bool:
    """The run ended because of the cancellation it was asked for (possibly wrapped, e.g. an
    ActivityError caused by the activity's cancellation)."""
    e: BaseException | None = err
    while e is not None:
        if isinstance(e, asyncio.CancelledError | exc_mod.CancelledError):
            return True
        e = e.__cause__
    return False


def _task_shape_ok(evs: Sequence[HistoryEvent], scheduled_event_id: int) -> bool:
    """The task's WorkflowTaskScheduled is among `evs`, and only inputs (jobs) follow it."""
    for i, ev in enumerate(evs):
        if ev.event_id == scheduled_event_id:
            return ev.event_type == "WorkflowTaskScheduled" and not any(
                e.event_type in matching.COMMAND_EVENTS or e.event_type.startswith("WorkflowTask")
                for e in evs[i + 1 :]
            )
    return False
