"""The schedules one batch touches: finds each (the batch's view first, then the store), applies a
schedule message with its pure transition (api/*_schedule.py, api/schedule_tick.py,
api/scheduled_workflow_*.py) and records the outcome as a pending `ScheduleWrite` for the batch's
commit. Schedules are not cached between batches: they change about once per action, and reading
one row per batch is cheaper than keeping every schedule of a shard in memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidal_schema.messages import (
    BackfillSchedule,
    CreateSchedule,
    DeleteSchedule,
    FireTimer,
    PauseSchedule,
    ScheduledWorkflowClosed,
    ScheduledWorkflowStarted,
    TriggerSchedule,
    UpdateSchedule,
)
from tidal_schema.schedule_document import ScheduleDocument

from .api import (
    backfill_schedule,
    create_schedule,
    delete_schedule,
    pause_schedule,
    schedule_tick,
    scheduled_workflow_closed,
    scheduled_workflow_started,
    trigger_schedule,
    update_schedule,
)
from .mutation import Outcome, Outgoing
from .schedule_mutation import ScheduleOutcome
from .schedule_store import ScheduleWrite
from .store import HistoryStore

__all__ = ["SCHEDULE_MESSAGES", "ScheduleKey", "ScheduleSet", "WorkingSchedule"]

ScheduleKey = tuple[str, str]  # namespace, schedule_id

SCHEDULE_MESSAGES = (
    CreateSchedule,
    UpdateSchedule,
    PauseSchedule,
    TriggerSchedule,
    BackfillSchedule,
    DeleteSchedule,
    ScheduledWorkflowStarted,
    ScheduledWorkflowClosed,
)
_HANDLERS: dict[type, Callable[..., ScheduleOutcome]] = {
    UpdateSchedule: update_schedule.handle,
    PauseSchedule: pause_schedule.handle,
    TriggerSchedule: trigger_schedule.handle,
    BackfillSchedule: backfill_schedule.handle,
    DeleteSchedule: delete_schedule.handle,
    ScheduledWorkflowStarted: scheduled_workflow_started.handle,
    ScheduledWorkflowClosed: scheduled_workflow_closed.handle,
    FireTimer: schedule_tick.handle,
}


@dataclass(kw_only=True)
class WorkingSchedule:
    """A schedule as this batch sees it (None: absent, or deleted earlier in the batch)."""

    doc: ScheduleDocument | None
    version: int | None
    write: ScheduleWrite | None = None


class ScheduleSet:
    def __init__(self, *, shard_id: int, store: HistoryStore, route: Callable[[Outgoing], Outgoing]) -> None:
        self._shard_id = shard_id
        self._store = store
        self._route = route

    async def apply(
        self, schedules: dict[ScheduleKey, WorkingSchedule], msg: Any, *, now: datetime
    ) -> Outcome:
        key = (msg.namespace, msg.workflow_id)
        w = schedules.get(key)
        if w is None:
            loaded = await self._store.load_schedule(*key)
            w = WorkingSchedule(
                doc=loaded.doc if loaded else None, version=loaded.version if loaded else None
            )
            schedules[key] = w
        if isinstance(msg, CreateSchedule):
            out = create_schedule.handle(
                w.doc, msg, incarnation=str(uuid.uuid4()), shard_id=self._shard_id, now=now
            )
        else:
            out = _HANDLERS[type(msg)](w.doc, msg, now=now)
        self._record(w, out)
        return Outcome(state=None, reply=out.reply, changed=out.changed, outbox=out.outbox)

    def _record(self, w: WorkingSchedule, out: ScheduleOutcome) -> None:
        out.outbox[:] = [self._route(o) for o in out.outbox]
        if not out.changed or out.doc is None:
            return
        if w.write is None:
            w.write = ScheduleWrite(doc=out.doc, old_version=w.version)
        if out.created and w.write.deleted:
            # Deleted and created again in one batch: the stored row goes, then the new one.
            w.write.recreated = True
        w.write.doc = out.doc
        w.write.deleted = out.deleted
        w.write.record_timers(out.timers_set, out.timers_deleted)
        w.write.outbox.extend(out.outbox)
        for outcome in ("taken", "skipped", "missed", "buffered", "completed", "failed"):
            w.write.figures[outcome] = w.write.figures.get(outcome, 0) + getattr(out, outcome)
        w.doc = None if out.deleted else out.doc
