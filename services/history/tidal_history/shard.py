"""One owned shard: consume its queue exclusively, apply messages in batches, commit once per
batch, then publish the outbox and settle the deliveries."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import (
    HISTORY_MESSAGE,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FailActivityTask,
    FailWorkflowTask,
    FireTimer,
    HistoryMessage,
    RequestCancelWorkflowExecution,
    SignalWithStartWorkflowExecution,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    UpdateWorkflowExecution,
)
from tidal_server.bus import Bus, Consumer, Delivery, OutMessage
from tidal_server.clock import Clock

from .api import (
    complete_activity_task,
    complete_workflow_task,
    fail_activity_task,
    fail_workflow_task,
    fire_timer,
    request_cancel_workflow,
    signal_with_start,
    signal_workflow,
    start_workflow,
    terminate_workflow,
    update_workflow,
)
from .api import retention as retention_api
from .api.start_workflow import CurrentRun
from .cache import CachedRun, RunCache, RunKey
from .mutation import Outcome
from .store import HistoryStore, PendingOutbox, RunWrite, ShardLostError, StoreError

log = logging.getLogger("tidal.history.shard")


@dataclass(kw_only=True)
class _Working:
    """A run as this batch sees it; put (back) into the cache once the batch has committed."""

    run: CachedRun
    write: RunWrite | None = None


class ShardProcessor:
    def __init__(
        self,
        *,
        shard_id: int,
        owner: str,
        store: HistoryStore,
        bus: Bus,
        clock: Clock,
        cache_size: int,
        batch_max: int,
        prefetch: int,
    ) -> None:
        self.shard_id = shard_id
        self.owner = owner
        self.range_id = 0
        self._store = store
        self._bus = bus
        self._clock = clock
        self._cache = RunCache(cache_size)
        self._batch_max = batch_max
        self._prefetch = prefetch
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._published: list[int] = []
        self.lost = asyncio.Event()
        self.processed = 0

    async def start(self) -> None:
        """The exclusive consumer is the claim (it fails while another process holds the shard);
        only then is the fencing token bumped, which cuts off any write still in flight from the
        previous owner. Deliveries wait in the inbox until the loop starts."""
        self._consumer = await self._bus.consume(
            names.history_queue(self.shard_id), self._enqueue, prefetch=self._prefetch, exclusive=True
        )
        try:
            self.range_id = await self._store.acquire_shard(self.shard_id, self.owner)
            await self._relay_pending_outbox()
        except BaseException:
            await self._consumer.cancel()
            self._consumer = None
            raise
        self._task = asyncio.create_task(self._loop(), name=f"history-shard-{self.shard_id}")

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()  # unsettled deliveries go back to the queue
            self._consumer = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._cache.clear()

    async def _enqueue(self, delivery: Delivery) -> None:
        self._inbox.put_nowait(delivery)

    async def _relay_pending_outbox(self) -> None:
        """After a takeover or crash: what was committed but maybe not published goes out again
        (at least once; consumers are idempotent)."""
        while True:
            pending = await self._store.pending_outbox(self.shard_id)
            if not pending:
                return
            await self._publish(pending)
            await self._store.delete_outbox([p.seq for p in pending])

    async def _loop(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._inbox.get(), timeout=1.0)
            except TimeoutError:
                if self._published:
                    seqs, self._published = self._published, []
                    await self._store.delete_outbox(seqs)
                continue
            batch = [first]
            while len(batch) < self._batch_max and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._process(batch)
            except ShardLostError:
                log.warning("lost shard %s; stopping its processor", self.shard_id)
                await self._requeue(batch)
                self.lost.set()
                if self._consumer is not None:
                    await self._consumer.cancel()
                    self._consumer = None
                return
            except Exception:
                # A transient store or bus failure: requeue, drop cached state (it may be ahead of
                # the database), and go on.
                log.exception("batch on shard %s failed; requeueing %d messages", self.shard_id, len(batch))
                self._cache.clear()
                await self._requeue(batch)
                await self._recover_outbox()

    async def _recover_outbox(self) -> None:
        """A batch may have committed and then failed to publish: its outbox rows are in the
        database only, so publish whatever the shard has pending before going on (retrying with
        backoff while the bus or database is down)."""
        delay = 0.2
        while True:
            await asyncio.sleep(delay)
            try:
                self._published.clear()  # the relay deletes every row it publishes
                await self._relay_pending_outbox()
                return
            except Exception:
                log.exception("relaying the outbox of shard %s failed; retrying", self.shard_id)
                delay = min(delay * 2, 5.0)

    async def _requeue(self, batch: list[Delivery]) -> None:
        for d in batch:
            if not d.settled:
                try:
                    await d.nack(requeue=True)
                except Exception:
                    log.debug("could not requeue a delivery", exc_info=True)

    async def _process(self, batch: list[Delivery]) -> None:
        now = self._clock.now()
        working: dict[RunKey, _Working] = {}
        currents: dict[tuple[str, str], CurrentRun | None] = {}
        replies: list[tuple[Delivery, Outcome]] = []
        valid: list[Delivery] = []
        for d in batch:
            try:
                msg = HISTORY_MESSAGE.validate_json(d.body)
            except ValidationError as exc:
                await d.dead_letter(f"invalid history message: {_short(exc)}")
                continue
            outcome = await self._apply(msg, now, working, currents)
            valid.append(d)
            if outcome.reply is not None and d.reply_to:
                replies.append((d, outcome))
        writes = [w.write for w in working.values() if w.write is not None]
        to_publish: list[PendingOutbox] = []
        if writes or self._published:
            published, self._published = self._published, []
            try:
                to_publish = await self._store.commit(
                    shard_id=self.shard_id, range_id=self.range_id, writes=writes, published_seqs=published
                )
            except StoreError:
                self._published = published + self._published
                raise
            for key, w in working.items():
                if w.write is not None and w.write.purge:
                    self._cache.discard(key)
                elif w.write is not None:
                    self._cache.put(key, w.run)
        await self._publish(to_publish)
        self._published.extend(p.seq for p in to_publish)
        await self._bus.publish_many(
            [
                OutMessage(
                    exchange="",
                    routing_key=d.reply_to or "",
                    correlation_id=d.correlation_id,
                    body=o.reply.model_dump_json().encode(),
                    mandatory=False,
                )
                for d, o in replies
                if o.reply is not None
            ]
        )
        for d in valid:
            await d.ack()
        self.processed += len(valid)

    async def _publish(self, items: list[PendingOutbox]) -> None:
        if items:
            await self._bus.publish_many(
                [
                    OutMessage(
                        exchange=p.exchange,
                        routing_key=p.routing_key,
                        body=p.body,
                        mandatory=p.exchange != names.NOTIFY_EXCHANGE,
                    )
                    for p in items
                ]
            )

    async def _apply(
        self,
        msg: HistoryMessage,
        now: datetime,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> Outcome:
        if isinstance(msg, SignalWithStartWorkflowExecution):
            return await self._signal_with_start(msg, now, working, currents)
        if isinstance(msg, StartWorkflowExecution):
            ck = (msg.namespace, msg.workflow_id)
            if ck not in currents:
                currents[ck] = await self._store.load_current(msg.namespace, msg.workflow_id)
            outcome = start_workflow.handle(
                msg, currents[ck], new_run_id=str(uuid.uuid4()), shard_id=self.shard_id, now=now
            )
            self._record_new_run(msg, outcome, working, currents)
            return outcome
        if isinstance(msg, FireTimer) and msg.kind is TimerKind.RETENTION:
            return await self._retention(msg, now, working)
        run_id = getattr(msg, "run_id", None) or await self._current_run_id(msg.namespace, msg.workflow_id)
        w = await self._working(working, (msg.namespace, msg.workflow_id, run_id)) if run_id else None
        handler = _HANDLERS[type(msg)]
        if w is None:
            if isinstance(msg, _ANSWERS_MISSING):
                return handler(None, [], msg, now=now)
            return Outcome(state=None)
        state, history = w.run.state, w.run.events
        outcome = handler(state, history, msg, now=now)
        self._record_change(w, outcome)
        return outcome

    async def _retention(self, msg: FireTimer, now: datetime, working: dict[RunKey, _Working]) -> Outcome:
        w = await self._working(working, (msg.namespace, msg.workflow_id, msg.run_id or ""))
        if w is None or (w.write is not None and w.write.purge):
            return Outcome(state=None)  # already gone
        # A namespace deleted from the table keeps the default retention.
        retention = await self._store.namespace_retention(msg.namespace) or timedelta(days=30)
        outcome = retention_api.handle(w.run.state, w.run.events, msg, now=now, retention=retention)
        if outcome.purge:
            # The version in the database: an earlier message of this batch may have bumped ours.
            stored = w.write.old_version if w.write is not None else w.run.version
            w.write = RunWrite(state=w.run.state, old_version=stored, purge=True)
        else:
            self._record_change(w, outcome)
        return outcome

    async def _signal_with_start(
        self,
        msg: SignalWithStartWorkflowExecution,
        now: datetime,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> Outcome:
        ck = (msg.namespace, msg.workflow_id)
        if ck not in currents:
            currents[ck] = await self._store.load_current(msg.namespace, msg.workflow_id)
        current = currents[ck]
        w = await self._working(working, (*ck, current.run_id)) if current is not None else None
        if w is not None:
            st = w.run.state
            # The run as this batch sees it: it may have closed earlier in the same batch.
            current = CurrentRun(run_id=st.run_id, status=st.status, start_request_id=st.start_request_id)
        outcome = signal_with_start.handle(
            msg,
            current,
            w.run.state if w is not None else None,
            w.run.events if w is not None else [],
            new_run_id=str(uuid.uuid4()),
            shard_id=self.shard_id,
            now=now,
        )
        if outcome.is_new_run:
            self._record_new_run(msg, outcome, working, currents)
        elif w is not None:
            self._record_change(w, outcome)
        return outcome

    @staticmethod
    def _record_new_run(
        msg: StartWorkflowExecution | SignalWithStartWorkflowExecution,
        outcome: Outcome,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> None:
        if not (outcome.changed and outcome.state is not None):
            return
        st = outcome.state
        key = (st.namespace, st.workflow_id, st.run_id)
        currents[(st.namespace, st.workflow_id)] = CurrentRun(
            run_id=st.run_id, status=st.status, start_request_id=st.start_request_id
        )
        run = CachedRun(state=st, version=1, events=list(outcome.events))
        working[key] = _Working(
            run=run,
            write=RunWrite(
                state=st,
                old_version=None,
                events=list(outcome.events),
                timers_set=outcome.timers_set,
                timers_deleted=outcome.timers_deleted,
                outbox=outcome.outbox,
                memo={k: v.model_dump(mode="json") for k, v in msg.memo.items()},
                search_attributes=dict(msg.search_attributes),
            ),
        )

    @staticmethod
    def _record_change(w: _Working, outcome: Outcome) -> None:
        if not outcome.changed:
            return
        if w.write is None:
            w.write = RunWrite(state=w.run.state, old_version=w.run.version)
        w.write.events.extend(outcome.events)
        w.write.timers_set.extend(outcome.timers_set)
        w.write.timers_deleted.extend(outcome.timers_deleted)
        w.write.outbox.extend(outcome.outbox)
        w.run.events.extend(outcome.events)
        w.run.version = w.write.new_version

    async def _working(self, working: dict[RunKey, _Working], key: RunKey) -> _Working | None:
        w = working.get(key)
        if w is not None:
            return w
        cached = self._cache.get(key)
        if cached is None:
            loaded = await self._store.load_run(*key)
            if loaded is None:
                return None
            cached = CachedRun(state=loaded.state, version=loaded.version, events=loaded.events)
        # Transitions mutate the cached run in place (no copy per message: copying the state was the
        # largest single cost in history's profile). That is safe because a batch that fails in any
        # way clears the whole cache (see _loop), so nothing uncommitted outlives it; and stale or
        # duplicate messages are recognised before a transition touches anything.
        w = _Working(run=cached)
        working[key] = w
        return w

    async def _current_run_id(self, namespace: str, workflow_id: str) -> str | None:
        run_id = self._cache.current_run_id(namespace, workflow_id)
        if run_id is not None:
            return run_id
        current = await self._store.load_current(namespace, workflow_id)
        return current.run_id if current else None


# Operations on an existing run, by message type (a start is handled apart: it reads the
# workflow id's current-run row instead).
_HANDLERS: dict[type, Callable[..., Outcome]] = {
    CompleteWorkflowTask: complete_workflow_task.handle,
    FailWorkflowTask: fail_workflow_task.handle,
    CompleteActivityTask: complete_activity_task.handle,
    FailActivityTask: fail_activity_task.handle,
    FireTimer: fire_timer.handle,
    SignalWorkflowExecution: signal_workflow.handle,
    TerminateWorkflowExecution: terminate_workflow.handle,
    RequestCancelWorkflowExecution: request_cancel_workflow.handle,
    UpdateWorkflowExecution: update_workflow.handle,
}
# Client requests by workflow id: with no such run they answer "not found" themselves; anything
# else for a missing run is a stale message from a run that is gone.
_ANSWERS_MISSING = (
    SignalWorkflowExecution,
    TerminateWorkflowExecution,
    RequestCancelWorkflowExecution,
    UpdateWorkflowExecution,
)


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
