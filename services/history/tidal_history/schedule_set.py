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

from tidal_schema.messages import HistoryMessage
from tidal_schema.schedule_document import ScheduleDocument

from .mutation import Outcome, Outgoing
from .operation import Operation, OperationContext, OperationError
from .schedule_mutation import ScheduleOutcome
from .schedule_store import ScheduleWrite
from .store import HistoryStore

__all__ = ["ScheduleKey", "ScheduleSet", "WorkingSchedule"]

ScheduleKey = tuple[str, str]  # namespace, schedule_id


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
        self,
        schedules: dict[ScheduleKey, WorkingSchedule],
        op: Operation,
        msg: HistoryMessage,
        *,
        now: datetime,
    ) -> Outcome:
        """Preload the schedule `msg` addresses (a schedule message's workflow id is the schedule
        id), call its operation (Load.SCHEDULE) and record the outcome."""
        key = (msg.namespace, msg.workflow_id)
        w = schedules.get(key)
        if w is None:
            loaded = await self._store.load_schedule(*key)
            w = WorkingSchedule(
                doc=loaded.doc if loaded else None, version=loaded.version if loaded else None
            )
            schedules[key] = w
        ctx = OperationContext(now=now, shard_id=self._shard_id, schedule=w.doc, new_run_id=str(uuid.uuid4()))
        out = op.handle(ctx, msg)
        if not isinstance(out, ScheduleOutcome):
            raise OperationError(f"{msg.type}: a schedule operation returned {type(out).__name__}")
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
        w.write.attributes_set = w.write.attributes_set or out.attributes_set
        for outcome in ("taken", "skipped", "missed", "buffered", "completed", "failed"):
            w.write.figures[outcome] = w.write.figures.get(outcome, 0) + getattr(out, outcome)
        w.doc = None if out.deleted else out.doc
