"""The working set: what one batch does to the runs it touches, before anything is committed.

Owns applying a history message (`WorkingSet.apply`): looking up its operation in the table
(dispatch.py), preloading what the entry asks for into the operation's context (the run, from
the batch's view first, then the shard's cache, then the store; the workflow id's current run; a
new run id; the namespace's retention), calling the pure operation, and recording its outcome as
a pending `RunWrite` (or `ScheduleWrite`, schedule_set.py); the termination a history limit
causes; routing outgoing messages to their shard; and putting the committed runs back into the
cache. Everything a batch accumulates lives in one `BatchState`, made per batch by the shard
processor (shard.py), which owns the commit, the outbox and the deliveries.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tidal_schema import names, shard_for
from tidal_schema.events import WorkflowExecutionStarted
from tidal_schema.messages import (
    AddWorkflowTask,
    CompleteActivityTask,
    HistoryMessage,
    StartWorkflowReply,
    TerminateWorkflowExecution,
)

from . import direct, metrics
from .api import terminate_workflow
from .cache import CachedRun, RunKey, ShardCache
from .dispatch import operation_for
from .limit_guards import HistoryLimitGuard
from .limits import HistoryLimits, enforce_blob_size, event_size, fit_workflow_task
from .memo import current_memo
from .mutation import Outcome, Outgoing
from .operation import CurrentRun, Load, Operation, OperationContext, OperationError
from .schedule_set import ScheduleKey, ScheduleSet, WorkingSchedule
from .schedule_store import ScheduleWrite
from .store import HistoryStore, RunWrite
from .visibility import memo_modified

__all__ = ["BatchState", "WorkingRun", "WorkingSet"]

WorkflowKey = tuple[str, str]  # namespace, workflow_id
_DEFAULT_RETENTION = timedelta(days=30)


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
    # The results of the batch's fused completions, counted once the batch commits.
    fused: list[str] = field(default_factory=list)

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
        shared_queues: direct.SharedQueues | None = None,
    ) -> None:
        self._shard_id = shard_id
        self._shared_queues = shared_queues
        self._shard_count = shard_count
        self._store = store
        self._cache = cache
        self._limits = limits
        self._guard = HistoryLimitGuard(limits, shard_id=shard_id)
        self._schedules = ScheduleSet(shard_id=shard_id, store=store, route=self.route)

    async def preload_currents(self, batch: BatchState, msgs: Sequence[HistoryMessage]) -> None:
        """The current run of every workflow id the batch's starts address, in one read instead of
        one per start. The batch's view of them is the same as if each were read on first use:
        nothing else writes this shard's rows while it is owned, and the runs the batch starts
        replace these entries as it applies them."""
        keys = {
            (m.namespace, m.workflow_id)
            for m in msgs
            if (op := operation_for(m)) is not None and op.load in (Load.CURRENT, Load.CURRENT_RUN)
        }
        keys -= batch.currents.keys()
        if len(keys) < 2:
            return  # read on first use, as before
        found = await self._store.load_currents(sorted(keys))
        for k in keys:
            batch.currents[k] = found.get(k)

    async def apply(self, batch: BatchState, msg: HistoryMessage) -> Outcome:
        """Preload what the message's operation needs, call it, record what it did. The shard
        dead-letters a message without an operation before it gets here."""
        op = operation_for(msg)
        fused = isinstance(msg, CompleteActivityTask) and msg.workflow_task is not None
        if op is not None and op.limits:
            msg = enforce_blob_size(msg, self._limits)  # may turn it into a failure (another entry)
            op = operation_for(msg)
        if op is None:
            raise OperationError(f"no operation for history message {msg.type}")
        if op.load is Load.SCHEDULE:
            return await self._schedules.apply(batch.schedules, op, msg, now=batch.now)
        ctx, w = await self._prepare(batch, op, msg)
        if op.load is Load.RUN and w is None and not op.answers_missing:
            return Outcome(state=None)  # a stale message for a run that is gone
        if w is not None:
            count_before, size_before = w.run.state.next_event_id - 1, w.run.state.history_size_bytes
        outcome = op.handle(ctx, msg)
        if not isinstance(outcome, Outcome):
            raise OperationError(f"{msg.type}: a run operation returned {type(outcome).__name__}")
        self._record(batch, op, w, outcome)
        if fused:
            batch.fused.append(metrics.fused_result(outcome))
        if op.limits and w is not None:
            reason = self._guard.check(w.run.state, count_before=count_before, size_before=size_before)
            if reason is not None:
                self._terminate_for_limit(batch, w, reason)
        return outcome

    async def _prepare(
        self, batch: BatchState, op: Operation, msg: HistoryMessage
    ) -> tuple[OperationContext, WorkingRun | None]:
        """The operation's context, and the working run it addresses (None: none, or not needed)."""
        ck = (msg.namespace, msg.workflow_id)
        current: CurrentRun | None = None
        new_run_id = ""
        if op.load is Load.RUN:
            # A run started earlier in this batch is not committed yet: the batch's view comes first.
            batch_current = batch.currents.get(ck)
            run_id = (
                getattr(msg, "run_id", None)
                or (batch_current.run_id if batch_current is not None else None)
                or await self._current_run_id(*ck)
            )
            w = await self._working(batch, (*ck, run_id)) if run_id else None
        else:
            if ck not in batch.currents:
                batch.currents[ck] = await self._store.load_current(*ck)
            current, new_run_id, w = batch.currents[ck], str(uuid.uuid4()), None
            if op.load is Load.CURRENT_RUN and current is not None:
                w = await self._working(batch, (*ck, current.run_id))
        retention = None
        if op.retention and w is not None and w.write is not None and w.write.purge:
            w = None  # purged earlier in this batch: already gone
        if op.retention and w is not None:
            # A namespace deleted from the table keeps the default retention.
            retention = await self._store.namespace_retention(msg.namespace) or _DEFAULT_RETENTION
        ctx = OperationContext(
            now=batch.now,
            shard_id=self._shard_id,
            state=w.run.state if w is not None else None,
            history=w.run.events if w is not None else (),
            current=current,
            new_run_id=new_run_id,
            retention=retention,
            blob_size=self._limits.blob_size,
        )
        return ctx, w

    def _record(self, batch: BatchState, op: Operation, w: WorkingRun | None, outcome: Outcome) -> None:
        """Record an operation's outcome as the batch's pending writes."""
        if outcome.terminated is not None and w is not None:
            self._record_change(batch, w, outcome.terminated)  # before the run that replaces it
        if outcome.purge:
            if w is None:
                raise OperationError("an operation purged a run it was not given")
            # The version in the database: an earlier message of this batch may have bumped ours.
            stored = w.write.old_version if w.write is not None else w.run.version
            earlier = w.write.outbox if w.write is not None else []
            w.write = RunWrite(state=w.run.state, old_version=stored, purge=True, outbox=earlier)
        elif outcome.is_new_run:
            self._record_new_run(batch, outcome)
        elif w is not None:
            # A retention check re-armed: a successor (which it never makes) would not move the
            # workflow id's current run.
            self._record_change(batch, w, outcome, successor=not op.retention)

    def route(self, o: Outgoing, *, history_size: int = 0) -> Outgoing:
        """Messages for another workflow go to the history shard that owns it; a workflow task
        carries only the history it needs (limits.fit_workflow_task), and `history_size`, its
        run's bytes of history including the batch's events."""
        if isinstance(o.message, AddWorkflowTask):
            fitted = fit_workflow_task(o.message, self._limits, history_size=history_size)
            if fitted.task.first_event_id > 1:
                metrics.PARTIAL_WORKFLOW_TASKS.labels("sticky" if fitted.sticky_queue else "paged").inc()
            o = dataclasses.replace(o, message=fitted)
        # A sticky workflow task, an eager activity, and most other workflow tasks skip matching.
        o = direct.to_worker(o, shared=self._shared_queues)
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

    def _record_new_run(self, batch: BatchState, outcome: Outcome) -> None:
        """A run started by this batch (a start, signal-with-start, child start, or a
        continue-as-new successor)."""
        if not (outcome.changed and outcome.state is not None):
            return
        st = outcome.state
        memo = outcome.memo
        if memo is None and outcome.events:
            # Runs history starts itself (children, continue-as-new and retry successors): the
            # row's memo is the one their WorkflowExecutionStarted carries.
            started = outcome.events[0].attributes
            memo = started.memo if isinstance(started, WorkflowExecutionStarted) else None
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
            search_attributes=dict(outcome.search_attributes),
        )
        st.history_size_bytes = write.add_events(outcome.events)
        outcome.outbox[:] = [self.route(o, history_size=st.history_size_bytes) for o in outcome.outbox]
        self._fit_eager_task(outcome, st.history_size_bytes)
        write.record_timers(outcome.timers_set, outcome.timers_deleted)
        batch.runs[key] = WorkingRun(run=run, write=write)

    def _fit_eager_task(self, outcome: Outcome, history_size: int) -> None:
        """An eager start's first task (in the reply, api/eager_start.py) gets what a task through
        the outbox gets from `route`: the history size and the continue-as-new suggestion."""
        reply = outcome.reply
        if not isinstance(reply, StartWorkflowReply) or reply.eager_workflow_task is None:
            return
        fitted = fit_workflow_task(
            AddWorkflowTask(task=reply.eager_workflow_task), self._limits, history_size=history_size
        )
        outcome.reply = reply.model_copy(update={"eager_workflow_task": fitted.task})

    def _record_change(
        self, batch: BatchState, w: WorkingRun, outcome: Outcome, *, successor: bool = True
    ) -> None:
        if not outcome.changed:
            return
        if w.write is None:
            w.write = RunWrite(state=w.run.state, old_version=w.run.version)
        size = w.write.add_events(outcome.events)
        w.run.state.history_size_bytes += size
        size = w.run.state.history_size_bytes
        outcome.outbox[:] = [self.route(o, history_size=size) for o in outcome.outbox]
        w.write.record_timers(outcome.timers_set, outcome.timers_deleted)
        w.write.outbox.extend(outcome.outbox)
        w.run.events.extend(outcome.events)
        if memo_modified(outcome.events):
            w.write.memo = {k: v.model_dump(mode="json") for k, v in current_memo(w.run.events).items()}
            w.write.memo_changed = True
        w.run.version = w.write.new_version
        if outcome.successor is not None:  # continue-as-new: the next run, in the same commit
            # successor=False (a retention check, which never continues as new): should a successor
            # appear anyway, it is recorded without becoming the batch's current run.
            target = batch if successor else BatchState(now=batch.now, runs=batch.runs)
            self._record_new_run(target, outcome.successor)

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
        ctx = OperationContext(now=batch.now, shard_id=self._shard_id, state=st, history=w.run.events)
        outcome = terminate_workflow.handle(ctx, terminate)
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
