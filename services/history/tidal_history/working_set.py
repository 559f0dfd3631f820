"""The working set: what one batch does to the runs it touches, before anything is committed.

Owns applying a history message to its run (`WorkingSet.apply`): finding the run (the batch's
view first, then the shard's cache, then the store), the operations that are still special
branches here (starts, child starts, signal-with-start, retention, the termination a
TerminateExisting start or a history limit causes), recording each outcome as a pending
`RunWrite`, routing outgoing messages to their shard, and putting the committed runs back into
the cache. Everything a batch accumulates lives in one `BatchState`, made per batch by the shard
processor (shard.py), which owns the commit, the outbox and the deliveries.

This is the seam for issue 10's typed operation context: the preloading each special branch does
here (current run, new run id, namespace retention) is what the context would carry.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tidal_schema import Payload, names, shard_for
from tidal_schema.events import WorkflowExecutionStarted
from tidal_schema.messages import (
    AddWorkflowTask,
    FireTimer,
    HistoryMessage,
    SignalWithStartWorkflowExecution,
    StartChildWorkflowExecution,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    UpdateWithStartWorkflowExecution,
)

from . import direct, metrics
from .api import retention as retention_api
from .api import (
    signal_with_start,
    start_child_workflow,
    start_workflow,
    terminate_workflow,
    update_with_start,
)
from .api.start_workflow import CurrentRun
from .cache import CachedRun, RunKey, ShardCache
from .dispatch import ANSWERS_MISSING, HANDLERS, terminates_existing
from .limit_guards import HistoryLimitGuard
from .limits import HistoryLimits, enforce_blob_size, event_size, fit_workflow_task
from .mutation import Outcome, Outgoing
from .schedule_set import SCHEDULE_MESSAGES, ScheduleKey, ScheduleSet, WorkingSchedule
from .schedule_store import ScheduleWrite
from .store import HistoryStore, RunWrite

__all__ = ["BatchState", "WorkingRun", "WorkingSet"]

WorkflowKey = tuple[str, str]  # namespace, workflow_id


@dataclass(kw_only=True)
class WorkingRun:
    """A run as this batch sees it; put (back) into the cache once the batch has committed."""

    run: CachedRun
    write: RunWrite | None = None


@dataclass(kw_only=True)
class BatchState:
    """What one batch has seen and changed so far: the runs it touched (with their pending
    writes) and the current run of each workflow as the batch sees it (a run started earlier in
    the batch is not committed yet)."""

    now: datetime
    runs: dict[RunKey, WorkingRun] = field(default_factory=dict)
    currents: dict[WorkflowKey, CurrentRun | None] = field(default_factory=dict)
    schedules: dict[ScheduleKey, WorkingSchedule] = field(default_factory=dict)

    def writes(self) -> list[RunWrite]:
        return [w.write for w in self.runs.values() if w.write is not None]

    def schedule_writes(self) -> list[ScheduleWrite]:
        return [w.write for w in self.schedules.values() if w.write is not None]


class WorkingSet:
    """One shard's way of applying messages to runs; the per-batch state is a `BatchState`."""

    def __init__(
        self,
        *,
        shard_id: int,
        shard_count: int,
        store: HistoryStore,
        cache: ShardCache,
        limits: HistoryLimits,
    ) -> None:
        self._shard_id = shard_id
        self._shard_count = shard_count
        self._store = store
        self._cache = cache
        self._limits = limits
        self._guard = HistoryLimitGuard(limits, shard_id=shard_id)
        self._schedules = ScheduleSet(shard_id=shard_id, store=store, route=self.route)

    async def apply(self, batch: BatchState, msg: HistoryMessage) -> Outcome:
        now = batch.now
        if isinstance(msg, SCHEDULE_MESSAGES) or (
            isinstance(msg, FireTimer) and msg.kind is TimerKind.SCHEDULE
        ):
            return await self._schedules.apply(batch.schedules, msg, now=now)
        if isinstance(msg, SignalWithStartWorkflowExecution | UpdateWithStartWorkflowExecution):
            return await self._with_start(batch, msg)
        if isinstance(msg, StartWorkflowExecution | StartChildWorkflowExecution):
            ck = (msg.namespace, msg.workflow_id)
            if ck not in batch.currents:
                batch.currents[ck] = await self._store.load_current(msg.namespace, msg.workflow_id)
            new_id, current = str(uuid.uuid4()), batch.currents[ck]
            if isinstance(msg, StartWorkflowExecution):
                if terminates_existing(msg, current):
                    assert current is not None
                    await self._terminate_for_start(batch, msg, current)
                    current = None
                outcome = start_workflow.handle(
                    msg, current, new_run_id=new_id, shard_id=self._shard_id, now=now
                )
                self._record_new_run(batch, outcome, memo=msg.memo, attrs=msg.search_attributes)
            else:
                outcome = start_child_workflow.handle(
                    msg, current, new_run_id=new_id, shard_id=self._shard_id, now=now
                )
                self._record_new_run(batch, outcome)
            return outcome
        if isinstance(msg, FireTimer) and msg.kind is TimerKind.RETENTION:
            return await self._retention(batch, msg)
        # A run started earlier in this batch is not committed yet: the batch's view comes first.
        batch_current = batch.currents.get((msg.namespace, msg.workflow_id))
        run_id = (
            getattr(msg, "run_id", None)
            or (batch_current.run_id if batch_current is not None else None)
            or await self._current_run_id(msg.namespace, msg.workflow_id)
        )
        w = await self._working(batch, (msg.namespace, msg.workflow_id, run_id)) if run_id else None
        msg = enforce_blob_size(msg, self._limits)
        handler = HANDLERS[type(msg)]
        if w is None:
            if isinstance(msg, ANSWERS_MISSING):
                return handler(None, [], msg, now=now)
            return Outcome(state=None)
        state, history = w.run.state, w.run.events
        count_before, size_before = state.next_event_id - 1, state.history_size_bytes
        outcome = handler(state, history, msg, now=now)
        self._record_change(batch, w, outcome)
        reason = self._guard.check(state, count_before=count_before, size_before=size_before)
        if reason is not None:
            self._terminate_for_limit(batch, w, reason)
        return outcome

    def route(self, o: Outgoing) -> Outgoing:
        """Messages for another workflow go to the history shard that owns it; a workflow task
        carries only the history it needs (limits.fit_workflow_task)."""
        if isinstance(o.message, AddWorkflowTask):
            fitted = fit_workflow_task(o.message, self._limits)
            if fitted.task.first_event_id > 1:
                metrics.PARTIAL_WORKFLOW_TASKS.labels("sticky" if fitted.sticky_queue else "paged").inc()
            o = dataclasses.replace(o, message=fitted)
        o = direct.to_worker(o)  # a sticky workflow task or an eager activity skips matching
        if o.to_workflow is None or o.routing_key:
            return o
        shard = shard_for(o.to_workflow[0], o.to_workflow[1], self._shard_count)
        return dataclasses.replace(o, routing_key=names.shard_routing_key(shard))

    def cache_committed(self, batch: BatchState) -> None:
        """The batch committed: its runs are what the database holds now."""
        for key, w in batch.runs.items():
            if w.write is None:
                continue
            if w.write.purge:
                self._cache.discard(key)
                continue
            w.run.state_chars = w.write.state_chars
            w.run.events_chars += w.write.events_chars
            # Only a new run's commit moved current_executions (HistoryStore._write_run); any
            # other write, e.g. an old run's retention check, leaves the pointer alone.
            self._cache.put(key, w.run, current=w.write.old_version is None)

    async def _retention(self, batch: BatchState, msg: FireTimer) -> Outcome:
        w = await self._working(batch, (msg.namespace, msg.workflow_id, msg.run_id or ""))
        if w is None or (w.write is not None and w.write.purge):
            return Outcome(state=None)  # already gone
        # A namespace deleted from the table keeps the default retention.
        retention = await self._store.namespace_retention(msg.namespace) or timedelta(days=30)
        outcome = retention_api.handle(w.run.state, w.run.events, msg, now=batch.now, retention=retention)
        if outcome.purge:
            # The version in the database: an earlier message of this batch may have bumped ours.
            stored = w.write.old_version if w.write is not None else w.run.version
            earlier = w.write.outbox if w.write is not None else []
            w.write = RunWrite(state=w.run.state, old_version=stored, purge=True, outbox=earlier)
        else:
            # A re-armed check: no successor run, so nothing for the batch's current runs.
            self._record_change(batch, w, outcome, successor=False)
        return outcome

    async def _with_start(
        self, batch: BatchState, msg: SignalWithStartWorkflowExecution | UpdateWithStartWorkflowExecution
    ) -> Outcome:
        ck = (msg.namespace, msg.workflow_id)
        if ck not in batch.currents:
            batch.currents[ck] = await self._store.load_current(msg.namespace, msg.workflow_id)
        current = batch.currents[ck]
        w = await self._working(batch, (*ck, current.run_id)) if current is not None else None
        if w is not None:
            st = w.run.state
            # The run as this batch sees it: it may have closed earlier in the same batch.
            current = CurrentRun(run_id=st.run_id, status=st.status, start_request_id=st.start_request_id)
        handle = (
            signal_with_start.handle
            if isinstance(msg, SignalWithStartWorkflowExecution)
            else update_with_start.handle
        )
        outcome = handle(
            msg,  # type: ignore[arg-type]
            current,
            w.run.state if w is not None else None,
            w.run.events if w is not None else [],
            new_run_id=str(uuid.uuid4()),
            shard_id=self._shard_id,
            now=batch.now,
        )
        if outcome.is_new_run:
            self._record_new_run(batch, outcome, memo=msg.memo, attrs=msg.search_attributes)
        elif w is not None:
            self._record_change(batch, w, outcome)
        return outcome

    def _record_new_run(
        self,
        batch: BatchState,
        outcome: Outcome,
        *,
        memo: Mapping[str, Payload] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """A run started by this batch (a start, signal-with-start, child start, or a
        continue-as-new successor)."""
        if not (outcome.changed and outcome.state is not None):
            return
        st = outcome.state
        if memo is None and outcome.events:
            # Runs history starts itself (children, continue-as-new and retry successors): the
            # row's memo is the one their WorkflowExecutionStarted carries.
            started = outcome.events[0].attributes
            memo = started.memo if isinstance(started, WorkflowExecutionStarted) else None
        outcome.outbox[:] = [self.route(o) for o in outcome.outbox]
        key = (st.namespace, st.workflow_id, st.run_id)
        batch.currents[(st.namespace, st.workflow_id)] = CurrentRun(
            run_id=st.run_id, status=st.status, start_request_id=st.start_request_id
        )
        run = CachedRun(state=st, version=1, events=list(outcome.events))
        write = RunWrite(
            state=st,
            old_version=None,
            outbox=outcome.outbox,
            memo={k: v.model_dump(mode="json") for k, v in (memo or {}).items()},
            search_attributes=dict(attrs or {}),
        )
        st.history_size_bytes = write.add_events(outcome.events)
        write.record_timers(outcome.timers_set, outcome.timers_deleted)
        batch.runs[key] = WorkingRun(run=run, write=write)

    def _record_change(
        self, batch: BatchState, w: WorkingRun, outcome: Outcome, *, successor: bool = True
    ) -> None:
        if not outcome.changed:
            return
        outcome.outbox[:] = [self.route(o) for o in outcome.outbox]
        if w.write is None:
            w.write = RunWrite(state=w.run.state, old_version=w.run.version)
        size = w.write.add_events(outcome.events)
        w.write.record_timers(outcome.timers_set, outcome.timers_deleted)
        w.write.outbox.extend(outcome.outbox)
        w.run.events.extend(outcome.events)
        w.run.state.history_size_bytes += size
        w.run.version = w.write.new_version
        if outcome.successor is not None:  # continue-as-new: the next run, in the same commit
            # successor=False (a retention check, which never continues as new): should a successor
            # appear anyway, it is recorded without becoming the batch's current run.
            target = batch if successor else BatchState(now=batch.now, runs=batch.runs)
            self._record_new_run(target, outcome.successor)

    async def _terminate_for_start(
        self, batch: BatchState, msg: StartWorkflowExecution, current: CurrentRun
    ) -> None:
        """id_conflict_policy TERMINATE_EXISTING: the running run is terminated in the same batch
        (so the same commit) that starts the new one; the start then sees no current run."""
        w = await self._working(batch, (msg.namespace, msg.workflow_id, current.run_id))
        if w is not None:
            terminate = TerminateWorkflowExecution(
                namespace=msg.namespace,
                workflow_id=msg.workflow_id,
                run_id=current.run_id,
                reason=f"terminated by start {msg.request_id} (id_conflict_policy TerminateExisting)",
                identity=msg.identity,
            )
            outcome = terminate_workflow.handle(w.run.state, w.run.events, terminate, now=batch.now)
            self._record_change(batch, w, outcome)

    def _terminate_for_limit(self, batch: BatchState, w: WorkingRun, reason: str) -> None:
        """The run reached a history limit: terminated in the same batch, as Temporal does."""
        st = w.run.state
        terminate = TerminateWorkflowExecution(
            namespace=st.namespace,
            workflow_id=st.workflow_id,
            run_id=st.run_id,
            reason=reason,
            identity="history",
        )
        outcome = terminate_workflow.handle(st, w.run.events, terminate, now=batch.now)
        self._record_change(batch, w, outcome)

    async def _working(self, batch: BatchState, key: RunKey) -> WorkingRun | None:
        w = batch.runs.get(key)
        if w is not None:
            return w
        cached = self._cache.get(key)
        if cached is None:
            t0 = metrics.now()
            loaded = await self._store.load_run(*key)
            metrics.LOAD_RUN_SECONDS.observe(metrics.now() - t0)
            if loaded is None:
                return None
            if not loaded.state.history_size_bytes:  # a run from before the size was kept
                loaded.state.history_size_bytes = sum(event_size(e) for e in loaded.events)
            cached = CachedRun(
                state=loaded.state,
                version=loaded.version,
                events=loaded.events,
                state_chars=loaded.state_chars,
                events_chars=loaded.events_chars,
            )
        # Transitions mutate the cached run in place (no copy per message: copying the state was the
        # largest single cost in history's profile). That is safe because a batch that fails in any
        # way clears the whole cache (see batch_failures.py), so nothing uncommitted outlives it; and
        # stale or duplicate messages are recognised before a transition touches anything.
        w = WorkingRun(run=cached)
        batch.runs[key] = w
        return w

    async def _current_run_id(self, namespace: str, workflow_id: str) -> str | None:
        run_id = self._cache.current_run_id(namespace, workflow_id)
        if run_id is not None:
            return run_id
        current = await self._store.load_current(namespace, workflow_id)
        if current is None:
            return None
        self._cache.note_current(namespace, workflow_id, current.run_id)
        return current.run_id
