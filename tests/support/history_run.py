"""A history run driven through its pure transitions (message in, outcome out), with its history
and every timer it set kept alongside: for history's transition tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_workflow_task, fire_timer, signal_workflow, start_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.state import MutableState
from tidal_schema import HistoryEvent, RetryPolicy
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    CompleteWorkflowTask,
    ScheduleTimer,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TimerKind,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN = "run1"
# Every SDK worker names its sticky queue: the run's later tasks go there, started at dispatch
# (inputs arriving meanwhile are buffered behind them).
STICKY = "tidal.sticky.worker-1"


class Run:
    def __init__(
        self,
        *,
        retry_policy: RetryPolicy | None = None,
        run_timeout: timedelta | None = None,
        workflow_type: str = "Entity",
        eager: bool = False,
    ) -> None:
        start = StartWorkflowExecution(
            workflow_id="w1",
            workflow_type=workflow_type,
            task_queue="q",
            request_id="start",
            retry_policy=retry_policy,
            workflow_run_timeout=run_timeout,
            request_eager_execution=eager,
        )
        self.now = T0
        o = start_workflow.handle(OperationContext(now=T0, current=None, new_run_id=RUN, shard_id=0), start)
        assert o.state is not None
        self.state: MutableState = o.state
        self.history: list[HistoryEvent] = list(o.events)
        self.timers: list[ScheduleTimer] = list(o.timers_set)
        self.last = o

    def apply(
        self, fn: Callable[..., Outcome], msg: object, *, after: timedelta = timedelta(seconds=1)
    ) -> Outcome:
        self.now += after
        o = fn(OperationContext(now=self.now, state=self.state, history=self.history), msg)
        self.history += o.events
        self.timers += o.timers_set
        if o.state is not None:
            self.state = o.state
        self.last = o
        return o

    @property
    def task_id(self) -> int:
        assert self.state.workflow_task is not None
        return self.state.workflow_task.scheduled_event_id

    def complete(self, *commands: cmd.Command) -> Outcome:
        return self.apply(
            complete_workflow_task.handle,
            CompleteWorkflowTask(
                workflow_id="w1",
                run_id=RUN,
                scheduled_event_id=self.task_id,
                commands=commands,
                sticky_queue=STICKY,
                # A worker that got the task with every input written before it started.
                seen_event_id=self.state.next_event_id - 1,
            ),
        )

    def signal(self, request_id: str) -> Outcome:
        return self.apply(
            signal_workflow.handle,
            SignalWorkflowExecution(workflow_id="w1", signal_name="add", request_id=request_id),
        )

    def timer(self, kind: TimerKind) -> ScheduleTimer:
        """The timer of `kind` set last."""
        return [t for t in self.timers if t.fire.kind is kind][-1]

    def fire(self, timer: ScheduleTimer) -> Outcome:
        return self.apply(fire_timer.handle, timer.fire, after=max(timer.fire_at - self.now, timedelta(0)))


def types(events: list[HistoryEvent]) -> list[str]:
    return [e.event_type for e in events]
