"""Builds histories the way the Tidal history service writes them, without a server.

Used by the runtime's unit tests (and usable by replay tools and an in-memory test environment):
it appends events for what the server would record, e.g. `complete_task(commands)` writes
WorkflowTaskStarted + WorkflowTaskCompleted + one event per command, exactly as history does when
a worker's completion arrives. A task handed to a worker ends with its WorkflowTaskScheduled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal_schema import Failure, HistoryEvent, Payload, events
from tidal_schema.commands import Command
from tidal_schema.events import EventAttributes
from tidal_schema.messages import WorkflowTask

from ..converter import DataConverter


class HistoryBuilder:
    def __init__(
        self,
        workflow_type: str,
        *args: Any,
        task_queue: str = "default",
        namespace: str = "default",
        workflow_id: str = "wf-1",
        run_id: str = "run-1",
        start_time: datetime = datetime(2024, 1, 1, tzinfo=UTC),
        converter: DataConverter | None = None,
    ) -> None:
        self.converter = converter or DataConverter.default
        self.workflow_type = workflow_type
        self.task_queue = task_queue
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.now = start_time
        self.events: list[HistoryEvent] = []
        self._activity_events: dict[str, int] = {}  # activity id -> ActivityTaskScheduled event id
        self._timer_events: dict[str, int] = {}  # timer id -> TimerStarted event id
        self.add(
            events.WorkflowExecutionStarted(
                workflow_type=workflow_type, task_queue=task_queue, input=self.converter.to_payloads(args)
            )
        )
        self.schedule_task()

    # --- basics -----------------------------------------------------------------------------

    def add(self, attributes: EventAttributes) -> HistoryEvent:
        ev = HistoryEvent(event_id=len(self.events) + 1, event_time=self.now, attributes=attributes)
        self.events.append(ev)
        return ev

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def last_event_id(self) -> int:
        return len(self.events)

    @property
    def _scheduled_task_id(self) -> int:
        for ev in reversed(self.events):
            if ev.event_type == "WorkflowTaskScheduled":
                return int(ev.event_id)
        raise AssertionError("no workflow task scheduled")

    def task(self, first_event_id: int = 1) -> WorkflowTask:
        """The workflow task a worker would receive now (the history must end with a scheduled
        workflow task, and the inputs written after it before it started); `first_event_id > 1`
        gives the partial history a sticky worker gets."""
        sched = self._scheduled_task_id
        later = [e.event_type for e in self.events[sched:]]
        assert not any(t.startswith("WorkflowTask") for t in later), f"no pending task: {later}"
        return WorkflowTask(
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            workflow_type=self.workflow_type,
            task_queue=self.task_queue,
            scheduled_event_id=sched,
            first_event_id=first_event_id,
            history_length=len(self.events),
            events=tuple(self.events[first_event_id - 1 :]),
            history_routing_key="history.test",
        )

    # --- workflow tasks ---------------------------------------------------------------------

    def schedule_task(self) -> HistoryEvent:
        return self.add(events.WorkflowTaskScheduled(task_queue=self.task_queue))

    def complete_task(self, commands: Sequence[Command]) -> None:
        """Record a worker's completion of the scheduled task: started, completed, then one event
        per command (in order), as the history service does."""
        sched = self._scheduled_task_id
        started = self.add(events.WorkflowTaskStarted(scheduled_event_id=sched)).event_id
        done = self.add(events.WorkflowTaskCompleted(scheduled_event_id=sched, started_event_id=started))
        for cmd in commands:
            self._command_event(cmd, done.event_id)

    def fail_task(self, failure: Failure | None = None) -> None:
        sched = self._scheduled_task_id
        started = self.add(events.WorkflowTaskStarted(scheduled_event_id=sched)).event_id
        self.add(
            events.WorkflowTaskFailed(scheduled_event_id=sched, started_event_id=started, failure=failure)
        )

    def _command_event(self, cmd: Command, completed_id: int) -> None:
        c = cmd
        if c.type == "ScheduleActivityTask":
            # (a request to the server, not part of the event)
            fields = c.model_dump(exclude={"type", "request_eager_execution"})
            ev = self.add(
                events.ActivityTaskScheduled(**fields, workflow_task_completed_event_id=completed_id)
            )
            self._activity_events[c.activity_id] = ev.event_id
        elif c.type == "RequestCancelActivityTask":
            self.add(
                events.ActivityTaskCancelRequested(
                    scheduled_event_id=c.scheduled_event_id, workflow_task_completed_event_id=completed_id
                )
            )
        elif c.type == "StartTimer":
            ev = self.add(
                events.TimerStarted(
                    timer_id=c.timer_id,
                    start_to_fire_timeout=c.start_to_fire_timeout,
                    workflow_task_completed_event_id=completed_id,
                )
            )
            self._timer_events[c.timer_id] = ev.event_id
        elif c.type == "CancelTimer":
            self.add(
                events.TimerCanceled(
                    timer_id=c.timer_id,
                    started_event_id=self._timer_events[c.timer_id],
                    workflow_task_completed_event_id=completed_id,
                )
            )
        elif c.type == "CompleteWorkflowExecution":
            self.add(
                events.WorkflowExecutionCompleted(
                    result=c.result, workflow_task_completed_event_id=completed_id
                )
            )
        elif c.type == "FailWorkflowExecution":
            self.add(
                events.WorkflowExecutionFailed(
                    failure=c.failure, workflow_task_completed_event_id=completed_id
                )
            )
        elif c.type == "CancelWorkflowExecution":
            self.add(
                events.WorkflowExecutionCanceled(
                    details=c.details, workflow_task_completed_event_id=completed_id
                )
            )
        elif c.type == "RecordMarker":
            self.add(
                events.MarkerRecorded(
                    marker_name=c.marker_name,
                    details=c.details,
                    failure=c.failure,
                    workflow_task_completed_event_id=completed_id,
                )
            )
        elif c.type == "UpsertWorkflowSearchAttributes":
            self.add(
                events.UpsertWorkflowSearchAttributes(
                    search_attributes=c.search_attributes, workflow_task_completed_event_id=completed_id
                )
            )
        elif c.type == "ModifyWorkflowProperties":
            self.add(
                events.WorkflowPropertiesModified(
                    upserted_memo=c.upserted_memo, workflow_task_completed_event_id=completed_id
                )
            )
        else:
            raise NotImplementedError(f"HistoryBuilder does not record {c.type} yet")

    # --- things that happen to the run ------------------------------------------------------

    def activity_completed(self, activity_id: str, result: Any = None) -> None:
        sched = self._activity_events[activity_id]
        started = self.add(events.ActivityTaskStarted(scheduled_event_id=sched)).event_id
        self.add(
            events.ActivityTaskCompleted(
                result=(self.converter.to_payload(result),),
                scheduled_event_id=sched,
                started_event_id=started,
            )
        )

    def activity_failed(self, activity_id: str, failure: Failure) -> None:
        sched = self._activity_events[activity_id]
        started = self.add(events.ActivityTaskStarted(scheduled_event_id=sched)).event_id
        self.add(
            events.ActivityTaskFailed(failure=failure, scheduled_event_id=sched, started_event_id=started)
        )

    def timer_fired(self, timer_id: str) -> None:
        self.add(events.TimerFired(timer_id=timer_id, started_event_id=self._timer_events[timer_id]))

    def signal(self, name: str, *args: Any) -> None:
        payloads: tuple[Payload, ...] = self.converter.to_payloads(args)
        self.add(events.WorkflowExecutionSignaled(signal_name=name, input=payloads))

    def cancel_requested(self) -> None:
        self.add(events.WorkflowExecutionCancelRequested())
