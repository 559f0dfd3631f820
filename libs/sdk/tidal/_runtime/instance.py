"""One workflow run, executed deterministically from its history.

The worker calls `activate(task)` with the events of a workflow task. The history walk
(history_walk.py) decides when an activation runs and with which inputs: a *replay* activation
for each completed task the instance has not run yet, then the *new* activation whose commands
`activate` returns. An activation applies its inputs (jobs) to the collaborators and runs the
code until it is idle. A cached (sticky) instance is handed only the events after
`last_event_id`, and confirms the commands it returned last time when they come back as events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from tidal_schema import Failure, Payload, events
from tidal_schema.commands import (
    Command,
    FailWorkflowExecution,
)
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import UpdateRequest, WorkflowTask

from .._definitions import WorkflowDefinition
from .._workflow_info import Info
from .._workflow_interceptors import WorkflowInboundInterceptor, WorkflowOutboundInterceptor
from ..converter import DataConverter
from ..exceptions import NondeterminismError, error_to_failure
from . import local_activities, update
from .activation import ActivationState
from .activities import ACTIVITY_JOB_EVENTS, Activities
from .children import CHILD_JOB_EVENTS, Children
from .conditions import Conditions
from .errors import StaleInstanceError, WorkflowTaskError
from .eviction import tear_down
from .handlers import Handlers
from .history_walk import HistoryWalk
from .interceptor_roots import build_chain
from .lifecycle import RunLifecycle
from .local_activities import LocalActivities
from .loop import WorkflowEventLoop
from .patches import PatchActivationInput, Patches
from .query import replay_for_query, run_query
from .randomness import RunRandomness
from .task_clock import TaskClock
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
        self.clock = TaskClock()
        self.walk = HistoryWalk(
            clock=self.clock,
            activities=self.activities,
            children=self.children,
            local_activities=self.local_activities,
            patches=self.patches,
            activate=self._activate,
        )
        self.definition = definition
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self._poisoned = False
        self._evicted = False
        self.last_commands: tuple[Command, ...] = ()  # of the last activation, local activities' too
        self.fused_at = 0  # s: ran ahead of history on a fused task (_fused_task.py); 0: not
        self.alone_at = -1  # activated_upto when an outcome of the run last went alone
        self._task_updates: tuple[UpdateRequest, ...] = ()  # the new activation's updates
        # `workflow.set_current_details`: sent with every workflow task completion.
        self.current_details = ""
        # What history delivers enters through `inbound`; what workflow code calls leaves through
        # `outbound` (set by the chain's `init`): the worker's workflow interceptors around the
        # runtime's own code (interceptor_roots.py).
        self.outbound: WorkflowOutboundInterceptor
        self.inbound = build_chain(self, interceptor_classes)
        self.lifecycle = RunLifecycle(
            self.state,
            definition=definition,
            converter=self.converter,
            inbound=self.inbound,
            failure_exception_types=failure_exception_types,
        )
        self.handlers = Handlers(
            state=self.state,
            definition=definition,
            inbound=self.inbound,
            on_failure=self.lifecycle.handler_failed,
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
        return self.clock.now

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
        self.state.upsert_memo(payloads)

    def upsert_search_attributes(self, values: Mapping[str, Any]) -> None:
        self.state.upsert_search_attributes(values)

    @property
    def cancellation_reason(self) -> str | None:
        return self.lifecycle.cancellation_reason

    @property
    def last_failure(self) -> Failure | None:
        return self.lifecycle.last_failure

    @property
    def last_completion_result(self) -> tuple[Payload, ...]:
        return self.lifecycle.last_completion_result

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
        return self.walk.last_event_id

    @property
    def is_closed(self) -> bool:
        """The run produced its closing command (complete, fail, cancel, continue-as-new)."""
        return self.lifecycle.closed

    def activate(self, task: WorkflowTask) -> tuple[Command, ...]:
        """Apply the task's events and return the commands of the new activation.

        Raises WorkflowTaskError (report FailWorkflowTask) or StaleInstanceError (replay from the
        full history); either way this instance must be dropped afterwards."""
        if self._poisoned:
            raise StaleInstanceError("instance already failed a task; build a new one")
        try:
            evs = self.walk.task_events(task)
        except StaleInstanceError:
            self._poisoned = True
            raise
        if evs is None:
            return self.last_commands
        self._task_updates = task.updates
        self.clock.new_task(task)
        try:
            with self._inside():
                self.last_commands = self.walk.walk(evs, task_scheduled=task.scheduled_event_id)
            return self.last_commands
        except (WorkflowTaskError, StaleInstanceError):
            self._poisoned = True
            raise
        except NondeterminismError as e:
            self._poisoned = True
            if isinstance(e, self.lifecycle.failure_types):
                return (FailWorkflowExecution(failure=error_to_failure(e)),)
            raise WorkflowTaskError(str(e), failure=error_to_failure(e), cause="NonDeterministicError") from e
        except Exception as e:
            self._poisoned = True
            raise WorkflowTaskError(f"workflow task failed: {e!r}", failure=error_to_failure(e)) from e

    @contextmanager
    def _inside(self) -> Iterator[None]:
        """The worker calls us from inside its own asyncio loop, in the same thread: ours is
        swapped in so that asyncio functions used by workflow code resolve to the deterministic
        loop, then the worker's is restored."""
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self._loop)
        try:
            yield
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
        with self._inside():
            try:
                return tear_down(self._loop)
            finally:
                self.state.take_commands()

    @property
    def has_pending_code(self) -> bool:
        """Whether a teardown would run workflow code: some coroutine of the run has not
        finished (its cancellation would run its cleanup). False once evicted."""
        return not self._evicted and bool(self._loop.pending_tasks())

    def get_info(self) -> Info:
        """The run's info (temporalio's `WorkflowInstance.get_info`), as `workflow.info()` but
        without the interceptors."""
        return self.info

    def is_failure_exception(self, err: BaseException) -> bool:
        """`workflow.is_failure_exception`: `err` fails the workflow, not only the task."""
        return self.lifecycle.is_failure_exception(err)

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
        return self.clock.history_length

    @property
    def current_history_size(self) -> int:
        """`workflow.info().get_current_history_size()`: the same on first run and replay."""
        return self.clock.history_size

    @property
    def continue_as_new_suggested(self) -> bool:
        """`workflow.info().is_continue_as_new_suggested()`: the same on first run and replay."""
        return self.clock.continue_as_new_suggested

    @property
    def activated_upto(self) -> int:
        """Scheduled event id of the last workflow task this instance ran (0: none yet)."""
        return self.walk.activated_upto

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
        try:
            with self._inside():
                for outcome in sorted(outcomes, key=lambda o: o.seq):
                    self.local_activities.resolve(outcome)
                self._run_until_idle()
                self._check_outcome()
                produced = self.state.take_commands()
        except WorkflowTaskError:
            self._poisoned = True
            raise
        except Exception as e:
            self._poisoned = True
            raise WorkflowTaskError(f"workflow task failed: {e!r}", failure=error_to_failure(e)) from e
        self.walk.expect(produced)
        self.last_commands = (*self.last_commands, *produced)
        return tuple(produced)

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

    # --- activations ------------------------------------------------------------------------

    def _activate(
        self, ev: HistoryEvent, *, replaying: bool, scheduled_event_id: int, upto: int
    ) -> list[Command]:
        """The walk's callback: run task `scheduled_event_id`'s activation, which sees the inputs
        written before event `upto`; returns the commands it produced."""
        self.walk.begin_activation(ev, scheduled_event_id)
        self.state.replaying = replaying
        if not replaying:
            self.patches.expect(set())
        now = self.clock.begin(ev, scheduled_event_id=scheduled_event_id, replaying=replaying)
        self._loop.set_time(now.timestamp())
        for job in self.walk.take_jobs(upto):
            self._apply_job(job)
        if replaying:
            update.deliver(self, self.walk.take_replay_updates(), validate=False)
        else:
            update.deliver(self, self._task_updates, validate=True)
            self._task_updates = ()
        self._run_until_idle()
        self._check_outcome()
        produced = self.state.take_commands()
        self.walk.expect(produced)
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
        cmd = self.lifecycle.finish()
        if cmd is not None:
            self.state.commands.append(cmd)
            self.handlers.warn_unfinished()

    # --- jobs -------------------------------------------------------------------------------

    def _apply_job(self, ev: HistoryEvent) -> None:
        a = ev.attributes
        if isinstance(a, events.WorkflowExecutionStarted):
            self.lifecycle.start(
                ev,
                a,
                namespace=self.namespace,
                workflow_id=self.workflow_id,
                run_id=self.run_id,
                first_task_time=self.clock.now,
            )
        elif isinstance(a, events.WorkflowExecutionSignaled):
            self.handlers.deliver_signal(a)
        elif isinstance(a, events.WorkflowExecutionCancelRequested):
            self.lifecycle.request_cancel(a.cause)
        elif a.type in ACTIVITY_JOB_EVENTS:
            self.activities.apply(ev)
        elif isinstance(a, events.TimerFired):
            self.timers.fire(a.timer_id)
        elif a.type in CHILD_JOB_EVENTS:
            self.children.apply(ev)
