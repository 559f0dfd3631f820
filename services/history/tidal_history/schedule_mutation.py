"""The builder every schedule transition uses (api/*_schedule.py, api/schedule_*.py): takes
actions under the overlap policy, arms the next tick, drains buffered starts, and finishes into a
`ScheduleOutcome` that the shard processor commits with the batch. No I/O here.

A tick is a durable timer keyed by the schedule's incarnation and the nominal time it is for
(`schedule_tick_key`), and the document names the one tick it armed (`armed_tick`): a fire for
any other nominal time, or for another incarnation, is stale and changes nothing. An action is a
`StartWorkflowExecution` sent through the outbox to the target workflow's own shard, with a
request id derived from the incarnation and the nominal time, so a relayed outbox or a replayed
batch never starts it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tidal_schema import names
from tidal_schema.messages import (
    FireTimer,
    Reply,
    RequestCancelWorkflowExecution,
    ScheduleLink,
    ScheduleTimer,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
)
from tidal_schema.schedule_document import (
    MAX_BUFFERED_STARTS,
    MAX_RECENT_ACTIONS,
    ScheduleActionRecord,
    ScheduleBufferedStart,
    ScheduleDocument,
    ScheduleOverlapPolicy,
    ScheduleRunningWorkflow,
    format_nominal,
    scheduled_workflow_id,
)
from tidal_schema.schedule_times import action_times_between, next_action_times
from tidal_server import timer_horizon

from .mutation import Outgoing, to_workflow

__all__ = [
    "MAX_TICK_ACTIONS",
    "SCHEDULED_BY_ID",
    "SCHEDULED_START_TIME",
    "ScheduleMutation",
    "ScheduleOutcome",
    "schedule_request_id",
    "schedule_tick_key",
]

# Temporal's names for the search attributes a scheduled run carries.
SCHEDULED_BY_ID = "TemporalScheduledById"
SCHEDULED_START_TIME = "TemporalScheduledStartTime"
# Due times one tick processes; more (a long outage of a frequent schedule) are taken by the
# ticks that follow at once, so no batch grows without bound.
MAX_TICK_ACTIONS = 200
_MAX_APPLIED_REQUESTS = 100


@dataclass(kw_only=True)
class ScheduleOutcome:
    doc: ScheduleDocument | None
    changed: bool = False
    created: bool = False
    deleted: bool = False
    outbox: list[Outgoing] = field(default_factory=list)
    timers_set: list[ScheduleTimer] = field(default_factory=list)
    timers_deleted: list[str] = field(default_factory=list)
    reply: Reply | None = None
    # Figures for the metrics by this transition: actions taken, skipped, missed, buffered; runs
    # it started that completed, or failed (failed, timed out, or could not start).
    taken: int = 0
    skipped: int = 0
    missed: int = 0
    buffered: int = 0
    completed: int = 0
    failed: int = 0
    # The schedule's own search attributes were set: their types are registered in the batch.
    attributes_set: bool = False


def schedule_tick_key(doc: ScheduleDocument, nominal: datetime) -> str:
    return f"{doc.incarnation}/{TimerKind.SCHEDULE.value}/t={format_nominal(nominal)}"


def schedule_request_id(doc: ScheduleDocument, nominal: datetime, manual_request: str = "") -> str:
    base = f"schedule/{doc.incarnation}/{format_nominal(nominal)}"
    return f"{base}/{manual_request}" if manual_request else base


class ScheduleMutation:
    def __init__(self, doc: ScheduleDocument, *, now: datetime, created: bool = False) -> None:
        self.doc = doc
        self.now = now
        self._created = created
        self._out = ScheduleOutcome(doc=doc, changed=True, created=created)

    # --- ticks ----------------------------------------------------------------------------

    def process_due(self) -> None:
        """Every nominal time after `processed_until` whose actual time has come: taken under
        the overlap policy, skipped while paused, or counted missed past the catch-up window."""
        doc = self.doc
        due = action_times_between(
            doc.spec,
            start=doc.processed_until,
            end=self.now,
            schedule_id=doc.schedule_id,
            limit=MAX_TICK_ACTIONS,
        )
        for t in due:
            if t.actual > self.now:
                break
            doc.processed_until = t.nominal
            if doc.paused or (doc.limited_actions and doc.remaining_actions <= 0):
                continue
            if self.now - t.actual > doc.policies.catchup_window:
                doc.counters.missed_catchup += 1
                self._out.missed += 1
                continue
            self.take_action(t.nominal, t.actual, doc.policies.overlap, manual=False)

    def arm_next_tick(self) -> None:
        """Arm the tick for the first nominal time after `processed_until` (none when the spec has
        ended or no actions remain); a different tick armed before goes."""
        doc = self.doc
        upcoming = next_action_times(
            doc.spec, after=doc.processed_until, schedule_id=doc.schedule_id, limit=1
        )
        if doc.limited_actions and doc.remaining_actions <= 0:
            upcoming = []
        nominal = upcoming[0].nominal if upcoming else None
        if doc.armed_tick is not None and doc.armed_tick != nominal:
            self.delete_timer(schedule_tick_key(doc, doc.armed_tick))
        doc.armed_tick = nominal
        if not upcoming:
            return
        key = schedule_tick_key(doc, upcoming[0].nominal)
        fire = FireTimer(
            namespace=doc.namespace,
            workflow_id=doc.schedule_id,
            run_id=doc.incarnation,
            kind=TimerKind.SCHEDULE,
            key=key,
            timer_id=format_nominal(upcoming[0].nominal),
        )
        scheduled = ScheduleTimer(shard_id=doc.shard_id, key=key, fire_at=upcoming[0].actual, fire=fire)
        self._out.timers_set = [s for s in self._out.timers_set if s.key != key]
        self._out.timers_set.append(scheduled)
        if not timer_horizon.needs_message(scheduled.fire_at, self.now):
            return  # the timer service reads it from the table in time (tidal_server.timer_horizon)
        self._out.outbox.append(
            Outgoing(
                exchange=names.TIMER_EXCHANGE,
                routing_key=names.shard_routing_key(doc.shard_id),
                message=scheduled,
            )
        )

    def delete_timer(self, key: str) -> None:
        self._out.timers_set = [s for s in self._out.timers_set if s.key != key]
        self._out.timers_deleted.append(key)

    # --- actions --------------------------------------------------------------------------

    def take_action(
        self,
        nominal: datetime,
        actual: datetime,
        overlap: ScheduleOverlapPolicy,
        *,
        manual: bool,
        request_id: str = "",
    ) -> None:
        doc = self.doc
        if not doc.running or overlap is ScheduleOverlapPolicy.ALLOW_ALL:
            self._start(nominal, actual, manual=manual, request_id=request_id)
            return
        if overlap is ScheduleOverlapPolicy.SKIP:
            doc.counters.skipped_overlap += 1
            self._out.skipped += 1
            return
        if overlap is ScheduleOverlapPolicy.BUFFER_ONE and doc.buffered:
            doc.counters.skipped_overlap += 1
            self._out.skipped += 1
            return
        if overlap in (ScheduleOverlapPolicy.CANCEL_OTHER, ScheduleOverlapPolicy.TERMINATE_OTHER):
            self._stop_running(overlap)
        self._buffer(nominal, actual, overlap, manual=manual, request_id=request_id)

    def drain_buffer(self) -> None:
        """Start buffered actions while nothing runs (or the next one allows overlap)."""
        doc = self.doc
        while doc.buffered and (
            not doc.running or doc.buffered[0].overlap is ScheduleOverlapPolicy.ALLOW_ALL
        ):
            b = doc.buffered.pop(0)
            self._start(b.nominal_time, b.actual_time, manual=b.manual, request_id=b.request_id)

    def _buffer(
        self,
        nominal: datetime,
        actual: datetime,
        overlap: ScheduleOverlapPolicy,
        *,
        manual: bool,
        request_id: str,
    ) -> None:
        doc = self.doc
        if len(doc.buffered) >= MAX_BUFFERED_STARTS:
            doc.counters.buffer_dropped += 1
            self._out.skipped += 1
            return
        doc.buffered.append(
            ScheduleBufferedStart(
                nominal_time=nominal,
                actual_time=actual,
                overlap=overlap,
                manual=manual,
                request_id=request_id,
            )
        )
        self._out.buffered += 1

    def _stop_running(self, overlap: ScheduleOverlapPolicy) -> None:
        doc = self.doc
        for r in doc.running:
            if overlap is ScheduleOverlapPolicy.TERMINATE_OTHER:
                msg: StartWorkflowExecution | TerminateWorkflowExecution | RequestCancelWorkflowExecution = (
                    TerminateWorkflowExecution(
                        namespace=doc.namespace,
                        workflow_id=r.workflow_id,
                        run_id=r.run_id or None,
                        reason=f"schedule {doc.schedule_id}: overlap policy terminate_other",
                        identity="schedule",
                    )
                )
            else:
                msg = RequestCancelWorkflowExecution(
                    namespace=doc.namespace,
                    workflow_id=r.workflow_id,
                    run_id=r.run_id or None,
                    request_id=f"schedule/{doc.incarnation}/cancel/{r.workflow_id}"[:1000],
                    reason=f"schedule {doc.schedule_id}: overlap policy cancel_other",
                    identity="schedule",
                )
            self._out.outbox.append(to_workflow(doc.namespace, r.workflow_id, msg))

    def _start(self, nominal: datetime, actual: datetime, *, manual: bool, request_id: str = "") -> None:
        doc = self.doc
        action = doc.action
        workflow_id = scheduled_workflow_id(action.workflow_id, nominal)
        if any(r.workflow_id == workflow_id for r in doc.running):
            # Two manual actions in one second name the same run: it is already taken.
            doc.counters.skipped_overlap += 1
            self._out.skipped += 1
            return
        attrs = {
            **action.search_attributes,
            SCHEDULED_BY_ID: doc.schedule_id,
            SCHEDULED_START_TIME: format_nominal(nominal),
        }
        start = StartWorkflowExecution(
            namespace=doc.namespace,
            workflow_id=workflow_id,
            workflow_type=action.workflow_type,
            task_queue=action.task_queue,
            input=action.input,
            request_id=schedule_request_id(doc, nominal, request_id),
            workflow_execution_timeout=action.workflow_execution_timeout,
            workflow_run_timeout=action.workflow_run_timeout,
            workflow_task_timeout=action.workflow_task_timeout,
            retry_policy=action.retry_policy,
            memo=action.memo,
            search_attributes=attrs,
            static_summary=action.static_summary,
            static_details=action.static_details,
            priority=action.priority,
            header=action.header,
            identity=f"schedule {doc.schedule_id}"[:1000],
            scheduled_by=ScheduleLink(
                namespace=doc.namespace,
                schedule_id=doc.schedule_id,
                incarnation=doc.incarnation,
                nominal_time=nominal,
            ),
        )
        self._out.outbox.append(to_workflow(doc.namespace, workflow_id, start))
        doc.running.append(ScheduleRunningWorkflow(workflow_id=workflow_id, nominal_time=nominal))
        doc.recent_actions.append(
            ScheduleActionRecord(
                nominal_time=nominal, actual_time=actual, taken_at=self.now, workflow_id=workflow_id
            )
        )
        del doc.recent_actions[:-MAX_RECENT_ACTIONS]
        doc.counters.actions += 1
        if doc.limited_actions and not manual:
            doc.remaining_actions = max(0, doc.remaining_actions - 1)
        self._out.taken += 1

    # --- requests -------------------------------------------------------------------------

    def already_applied(self, request_id: str) -> bool:
        return request_id in self.doc.applied_requests

    def note_applied(self, request_id: str) -> None:
        self.doc.applied_requests.append(request_id)
        del self.doc.applied_requests[:-_MAX_APPLIED_REQUESTS]

    def changed_by_client(self) -> None:
        self.doc.conflict_token += 1
        self.doc.updated_at = self.now

    def set_search_attributes(self, values: dict[str, Any]) -> None:
        self.doc.search_attributes = dict(values)
        self._out.attributes_set = bool(values)

    def count_run_closed(self, *, completed: bool, failed: bool) -> None:
        self._out.completed += int(completed)
        self._out.failed += int(failed)

    def finish(self, reply: Reply | None = None, *, deleted: bool = False) -> ScheduleOutcome:
        self._out.reply = reply
        self._out.deleted = deleted
        return self._out


def unchanged(reply: Reply | None = None) -> ScheduleOutcome:
    return ScheduleOutcome(doc=None, reply=reply)
