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
import dataclasses
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from tidal_schema import Failure, Payload, events
from tidal_schema.commands import (
    Command,
    FailWorkflowExecution,
    ModifyWorkflowPropertiesCommand,
    ProtocolMessage,
    UpsertWorkflowSearchAttributesCommand,
)
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import UpdateRequest, WorkflowTask

from .._definitions import WorkflowDefinition
from .._search_attributes import TypedSearchAttributes
from .._workflow_info import Info
from .._workflow_interceptors import (
    ExecuteWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)
from ..common import RawValue
from ..converter import DataConverter
from ..exceptions import FailureError, NondeterminismError, error_to_failure
from . import local_activities, matching, update
from .activation import ActivationState
from .activities import ACTIVITY_JOB_EVENTS, Activities
from .children import CHILD_JOB_EVENTS, Children
from .conditions import Conditions
from .errors import StaleInstanceError, WorkflowTaskError
from .eviction import tear_down
from .handlers import Handlers
from .interceptor_roots import build_chain
from .local_activities import LocalActivities
from .loop import WorkflowEventLoop
from .outcome import closing_command
from .patches import PatchActivationInput, Patches, patch_ids_ahead
from .query import replay_for_query, run_query
from .randomness import RunRandomness
from .start import start_info
from .timers import Timers

__all__ = ["StaleInstanceError", "WorkflowInstance", "WorkflowTaskError"]

_T = TypeVar("_T")


class WorkflowInstance:
    def __init__(
        self,
        *,
        definition: WorkflowDefinition,
        namespace: str,
        workflow_id: str,
        run_id: str,
        converter: DataConverter | None = None,
        failure_exception_types: Sequence[type[BaseException]] = (),
        interceptor_classes: Sequence[type[WorkflowInboundInterceptor]] = (),
        patch_activation_callback: Callable[[PatchActivationInput], bool] | None = None,
    ) -> None:
        self.converter = converter or DataConverter.default
        # The loop's timer sink is this instance (start_timer/cancel_timer/callback_failed), and
        # workflow.* functions find the instance through the running loop.
        self._loop = WorkflowEventLoop(self)  # type: ignore[abstract]
        self.state = ActivationState(loop=self._loop, converter=self.converter)
        self.activities = Activities(self.state)
        self.local_activities = LocalActivities(self.state)
        self.timers = Timers(self.state)
        self.conditions = Conditions(self.state)
        self.patches = Patches(self.state, activation_callback=patch_activation_callback)
        self.children = Children(self.state)
        self.randomness = RunRandomness(run_id)
        self._now = datetime.fromtimestamp(0, UTC)
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
        self._run_task: asyncio.Task[Any] | None = None
        self._closed = False
        self._cancel_requested = False
        # The reason of the cancel request (temporalio's `workflow.cancellation_reason()`).
        self.cancellation_reason: str | None = None
        self._workflow_failure: BaseException | None = None  # FailureError from a handler
        self._poisoned = False
        self._evicted = False
        self._last_commands: tuple[Command, ...] = ()
        self._task_updates: tuple[UpdateRequest, ...] = ()  # the new activation's updates
        self._replay_updates: tuple[UpdateRequest, ...] = ()  # accepted in the task being replayed
        self._history_length = 0  # as of the current activation's WorkflowTaskScheduled
        # (history bytes, continue-as-new suggested) of the current activation; what the new task
        # says, and per scheduled event id what replayed tasks' WorkflowTaskStarted recorded.
        self._history_size: tuple[int, bool] = (0, False)
        self._task_history_size: tuple[int, bool] = (0, False)
        self._started_sizes: dict[int, tuple[int, bool]] = {}
        self._task_started_time: datetime | None = None  # when the worker took the new task
        # `workflow.set_current_details`: sent with every workflow task completion.
        self.current_details = ""
        self.last_failure: Failure | None = None
        self.last_completion_result: tuple[Payload, ...] = ()
        # What history delivers enters through `inbound`; what workflow code calls leaves through
        # `outbound` (set by the chain's `init`): the worker's workflow interceptors around the
        # runtime's own code (interceptor_roots.py).
        self.outbound: WorkflowOutboundInterceptor
        self.inbound = build_chain(self, interceptor_classes)
        self.handlers = Handlers(
            state=self.state, definition=definition, inbound=self.inbound, on_failure=self._handler_failed
        )

    # --- what workflow code reads and asks of its run (workflow.* functions) --------------

    @property
    def loop(self) -> WorkflowEventLoop:
        """The run's deterministic event loop."""
        return self._loop

    @property
    def info(self) -> Info:
        return self.state.run_info

    def now(self) -> datetime:
        return self._now

    @property
    def is_replaying(self) -> bool:
        return self.state.replaying

    @property
    def is_read_only(self) -> bool:
        return self.state.read_only

    def read_only(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Call `fn` where workflow code may only read (a query, an update validator)."""
        return self.state.run_read_only(fn, *args)

    def assert_not_read_only(self, what: str) -> None:
        self.state.assert_not_read_only(what)

    def upsert_memo(self, payloads: Mapping[str, Payload]) -> None:
        """Record the memo upsert and show it in `info().raw_memo` at once (as temporalio): a
        `binary/null` payload (None) removes its key."""
        self.state.add_command(ModifyWorkflowPropertiesCommand(upserted_memo=dict(payloads)))
        memo = dict(self.info.raw_memo)
        for key, payload in payloads.items():
            if payload.metadata.get("encoding") == "binary/null":
                memo.pop(key, None)
            else:
                memo[key] = payload
        self.state.info = dataclasses.replace(self.info, raw_memo=memo)

    def upsert_search_attributes(self, values: Mapping[str, Any]) -> None:
        """Record the upsert command and show the new values in `info()` at once (as temporalio);
        replay runs the same code, so the info stays deterministic."""
        self.state.add_command(UpsertWorkflowSearchAttributesCommand(search_attributes=dict(values)))
        merged = {**self.info.search_attributes, **values}
        current = {k: v for k, v in merged.items() if v is not None}
        self.state.info = dataclasses.replace(
            self.info,
            search_attributes=current,
            typed_search_attributes=TypedSearchAttributes.from_json(current),
        )

    # The loop's TimerSink.

    def start_timer(self, handle: asyncio.TimerHandle, delay: float) -> None:
        self.timers.start(handle, delay)

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        self.timers.cancel(handle)

    def callback_failed(self, exc: BaseException) -> None:
        self.state.task_failure = self.state.task_failure or exc

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

    def evict(self) -> int:
        """Tear the run down before it is dropped (eviction.py): its pending coroutines are
        cancelled and unwound here, in the workflow's context; what their cleanup asks for never
        reaches history. The instance cannot be activated again. Returns how many coroutines
        would not finish (abandoned to the garbage collector)."""
        if self._evicted:
            return 0
        self._poisoned = self._evicted = True
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self._loop)
        try:
            return tear_down(self._loop)
        finally:
            self.state.take_commands()
            asyncio.events._set_running_loop(outer)

    def get_info(self) -> Info:
        """The run's info (temporalio's `WorkflowInstance.get_info`), as `workflow.info()` but
        without the interceptors."""
        return self.info

    def is_failure_exception(self, err: BaseException) -> bool:
        """`workflow.is_failure_exception`: `err` fails the workflow, not only the task."""
        return isinstance(err, (FailureError, *self._failure_types))

    @property
    def workflow_object(self) -> Any:
        """The `@workflow.defn` class's instance (`workflow.instance()`); None before the start."""
        return self.state.workflow_object

    @property
    def _object(self) -> Any:
        return self.state.workflow_object

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
                self.local_activities.resolve(outcome)
            self._run_until_idle()
            self._check_outcome()
            produced = self.state.take_commands()
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

    def query(
        self,
        name: str,
        args: Sequence[Payload] = (),
        *,
        query_id: str = "",
        headers: Mapping[str, Payload] | None = None,
    ) -> Payload:
        """Run a query handler against the current state (read-only; no commands).

        Raises `query.QueryError` (unknown name, bad arguments, not started, a handler that
        tried to issue a command) or whatever the handler raised."""
        return run_query(self, name, args, query_id=query_id, headers=headers)

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
                    self.patches.expect(patch_ids_ahead(evs[i + 1 :]))
                    self._replay_updates = update.accepted_ahead(evs[i + 1 :])
                    self.local_activities.expect_markers(
                        local_activities.markers_ahead(evs[i + 1 :], matching.COMMAND_EVENTS)
                    )
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

    def _confirm(self, ev: HistoryEvent) -> None:
        head = self._unconfirmed[0] if self._unconfirmed else None
        if head is None or not matching.matches(ev, head):
            # A patch marker whose patched()/deprecate_patch() call was since removed is fine.
            if matching.patch_id(ev) is not None:
                return
            raise matching.mismatch(ev, head)
        self._unconfirmed.popleft()
        self.children.confirmed(ev, head)
        a = ev.attributes
        if isinstance(a, events.ActivityTaskScheduled):
            self.activities.scheduled(ev, a)

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
        self.state.replaying = replaying
        if not replaying:
            self.patches.expect(set())
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
        produced = self.state.take_commands()
        # Update protocol messages have no command events to match (a rejection has none at all).
        self._unconfirmed.extend(c for c in produced if not isinstance(c, ProtocolMessage))
        return produced

    def _run_until_idle(self) -> None:
        while True:
            self._loop.run_ready()
            progressed = self.conditions.check()
            if not progressed and not self._loop.has_ready():
                if self.local_activities.resolve_replayed():
                    continue
                return

    def _check_outcome(self) -> None:
        cmd = closing_command(
            self._run_task,
            closed=self._closed,
            task_failure=self.state.task_failure,
            workflow_failure=self._workflow_failure,
            cancel_requested=self._cancel_requested,
            failure_types=self._failure_types,
            info=self.state.info,
            converter=self.converter,
        )
        if cmd is not None:
            self._close(cmd)

    def _close(self, cmd: Command) -> None:
        self._closed = True
        self.state.commands.append(cmd)
        self.handlers.warn_unfinished()

    # --- jobs -------------------------------------------------------------------------------

    def _apply_job(self, ev: HistoryEvent) -> None:
        a = ev.attributes
        if isinstance(a, events.WorkflowExecutionStarted):
            self._start(ev, a)
        elif isinstance(a, events.WorkflowExecutionSignaled):
            self.handlers.deliver_signal(a)
        elif isinstance(a, events.WorkflowExecutionCancelRequested):
            self._cancel_requested = True
            self.cancellation_reason = a.cause
            if self._run_task is not None and not self._run_task.done():
                self._run_task.cancel()
        elif a.type in ACTIVITY_JOB_EVENTS:
            self.activities.apply(ev)
        elif isinstance(a, events.TimerFired):
            self.timers.fire(a.timer_id)
        elif a.type in CHILD_JOB_EVENTS:
            self.children.apply(ev)

    def _start(self, ev: HistoryEvent, a: events.WorkflowExecutionStarted) -> None:
        self.state.info = start_info(
            ev,
            a,
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            first_task_time=self._now,
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
            obj = d.cls(*args) if d.init_takes_args else d.cls()
            self.state.workflow_object = obj
            if d.dynamic_config_fn is not None:
                config = d.dynamic_config_fn(obj)
                if config.failure_exception_types is not None:
                    self._failure_types = self._worker_failure_types + tuple(config.failure_exception_types)
        except BaseException as e:
            # Treated like an exception from run(): FailureError fails the workflow, others the task.
            error = e

            async def raise_init_error() -> Any:
                raise error

            self._run_task = self._loop.create_task(raise_init_error())
            return
        call = ExecuteWorkflowInput(type=d.cls, run_fn=d.run_fn, args=args, headers=dict(a.header))
        self._run_task = self._loop.create_task(
            self.inbound.execute_workflow(call), name=f"workflow:{d.name}"
        )

    def _handler_failed(self, e: BaseException) -> None:
        if isinstance(e, FailureError):
            self._workflow_failure = self._workflow_failure or e
        else:
            self.state.task_failure = self.state.task_failure or e


def _task_shape_ok(evs: Sequence[HistoryEvent], scheduled_event_id: int) -> bool:
    """The task's WorkflowTaskScheduled is among `evs`, and only inputs (jobs) follow it."""
    for i, ev in enumerate(evs):
        if ev.event_id == scheduled_event_id:
            return ev.event_type == "WorkflowTaskScheduled" and not any(
                e.event_type in matching.COMMAND_EVENTS or e.event_type.startswith("WorkflowTask")
                for e in evs[i + 1 :]
            )
    return False
