"""One owned shard: consume its queue exclusively, apply messages in batches, commit once per
batch, then publish the outbox and settle the deliveries."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from tidal_schema import (
    Payload,
    names,
    shard_for,
)
from tidal_schema.messages import (
    HISTORY_MESSAGE,
    FireTimer,
    HistoryMessage,
    SignalWithStartWorkflowExecution,
    StartChildWorkflowExecution,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
)
from tidal_server.bus import Bus, Consumer, Delivery, OutMessage
from tidal_server.clock import Clock
from tidal_server.faults import describe, is_transient
from tidal_server.supervision import ExitHandler, Supervised, Supervisor
from tidal_server.telemetry import SERVICE_ATTRIBUTE, TRACEPARENT, current_headers, extract, tracer

from . import metrics
from .api import retention as retention_api
from .api import (
    signal_with_start,
    start_child_workflow,
    start_workflow,
    terminate_workflow,
)
from .api.start_workflow import CurrentRun
from .cache import CachedRun, RunCache, RunKey, ShardCache
from .dispatch import ANSWERS_MISSING, HANDLERS, terminates_existing
from .mutation import Outcome, Outgoing
from .poison import PoisonHandler, PoisonPolicy
from .store import HistoryStore, PendingOutbox, RunWrite, ShardLostError, StoreError

log = logging.getLogger("tidal.history.shard")
_tracer = tracer("tidal.history")


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
        shard_count: int,
        cache: RunCache,
        batch_max: int,
        prefetch: int,
        supervisor: Supervisor,
        on_exit: ExitHandler,
        poison: PoisonPolicy,
    ) -> None:
        self.shard_id = shard_id
        self.owner = owner
        self.range_id = 0
        self._store = store
        self._bus = bus
        self._clock = clock
        self._shard_count = shard_count
        self._cache = ShardCache(cache, shard_id)
        self._batch_max = batch_max
        self._prefetch = prefetch
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._consumer: Consumer | None = None
        self._supervisor = supervisor
        self._on_exit = on_exit
        self._task: Supervised | None = None
        self._poison = PoisonHandler(bus=bus, shard_id=shard_id, policy=poison)
        self._transient_failures = 0  # consecutive, for the backoff
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
        # Supervised: if the loop ever dies, on_exit releases the shard (see app.py), instead of
        # the shard staying "owned" with nobody processing it.
        self._task = self._supervisor.spawn("shard", self._loop, key=self.shard_id, on_exit=self._on_exit)

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()  # unsettled deliveries go back to the queue
            self._consumer = None
        if self._task is not None:
            await self._task.cancel()
            self._task = None
        await self._poison.stop()
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
            metrics.RELAYED.inc(len(pending))
            await self._store.delete_outbox([p.seq for p in pending])

    async def _loop(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._inbox.get(), timeout=1.0)
            except TimeoutError:
                await self._delete_published()
                continue
            batch = [first]
            while len(batch) < self._batch_max and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._run_batch(batch)
            except ShardLostError:
                log.warning(
                    "lost shard %s; stopping its processor", self.shard_id, extra={"shard": self.shard_id}
                )
                metrics.SHARD_LOST.inc()
                await self._requeue(batch)
                self.lost.set()
                if self._consumer is not None:
                    await self._consumer.cancel()
                    self._consumer = None
                return

    async def _delete_published(self) -> None:
        """Idle: delete the outbox rows already published. A failure keeps them for the next try
        (a relay would only publish them again, which consumers tolerate)."""
        if not self._published:
            return
        seqs, self._published = self._published, []
        try:
            await self._store.delete_outbox(seqs)
        except Exception:
            self._published = seqs + self._published
            log.warning(
                "deleting published outbox rows of shard %s failed; retrying when idle",
                self.shard_id,
                exc_info=True,
                extra={"shard": self.shard_id},
            )

    async def _run_batch(self, batch: list[Delivery]) -> None:
        """Process a batch. A failure the infrastructure caused requeues it (after a backoff); one
        a message caused is isolated by bisection: the halves are applied (and committed)
        separately, down to the single offender, which goes to the poison policy (poison.py)."""
        try:
            await self._process(batch)
            self._transient_failures = 0
            return
        except ShardLostError:
            raise
        except Exception as exc:
            self._cache.clear()  # transitions mutate cached runs in place: drop what did not commit
            if not await self._caused_by_message(exc, batch):
                return
            metrics.MESSAGE_FAILURES.inc()
            log.warning(
                "a batch of %d on shard %s failed because of a message (%s); isolating it",
                len(batch),
                self.shard_id,
                describe(exc),
                extra={"shard": self.shard_id},
            )
            failed = exc
        # Groups still to apply, in order (messages of one run keep their order). A group known to
        # fail is split; a single message that fails is the offender.
        todo: deque[tuple[list[Delivery], Exception | None]] = deque([(batch, failed)])
        while todo:
            group, known = todo.popleft()
            group = [d for d in group if not d.settled]  # e.g. dead-lettered as invalid already
            if not group:
                continue
            if known is None:
                try:
                    await self._process(group)
                    continue
                except ShardLostError:
                    await self._requeue([d for g, _ in todo for d in g])
                    raise
                except Exception as exc:
                    self._cache.clear()
                    if not await self._caused_by_message(exc, group + [d for g, _ in todo for d in g]):
                        return
                    known = exc
            if len(group) == 1:
                await self._poison.handle(group[0], known)
            else:
                mid = len(group) // 2
                todo.extendleft([(group[mid:], None), (group[:mid], None)])
        self._transient_failures = 0

    async def _caused_by_message(self, exc: Exception, pending: list[Delivery]) -> bool:
        """True if `exc` is a message's fault (the database answers and the error is of a kind only
        data causes). Otherwise `pending` is requeued and the loop backs off until the store and
        the bus work again, counting nothing against the messages."""
        # A version conflict means another writer got there first (an ownership change): the
        # infrastructure's business, not the message's.
        if not is_transient(exc) and not isinstance(exc, StoreError):
            try:
                # A database that answers is also the proof the store is not the problem; and rows a
                # batch committed before failing to publish go out before anything is retried.
                self._published.clear()  # the relay deletes every row it publishes
                await self._relay_pending_outbox()
                return True
            except Exception:
                log.debug("the store or bus fails too: a transient failure", exc_info=True)
        metrics.TRANSIENT_FAILURES.inc()
        log.warning(
            "batch on shard %s failed (%s); requeueing %d messages",
            self.shard_id,
            describe(exc),
            len(pending),
            exc_info=exc,
            extra={"shard": self.shard_id},
        )
        await self._requeue(pending)
        self._transient_failures += 1
        await self._recover_outbox(min(0.2 * 2 ** (self._transient_failures - 1), 5.0))
        return False

    async def _recover_outbox(self, delay: float = 0.2) -> None:
        """A batch may have committed and then failed to publish: its outbox rows are in the
        database only, so publish whatever the shard has pending before going on (retrying with
        backoff while the bus or database is down)."""
        while True:
            await asyncio.sleep(delay)
            try:
                self._published.clear()  # the relay deletes every row it publishes
                await self._relay_pending_outbox()
                return
            except Exception:
                log.exception(
                    "relaying the outbox of shard %s failed; retrying",
                    self.shard_id,
                    extra={"shard": self.shard_id},
                )
                delay = min(delay * 2, 5.0)

    async def _requeue(self, batch: list[Delivery]) -> None:
        for d in batch:
            if not d.settled and not self._poison.holds(d):
                try:
                    await d.nack(requeue=True)
                except Exception:
                    log.debug("could not requeue a delivery", exc_info=True)

    async def _process(self, batch: list[Delivery]) -> None:
        started = metrics.now()
        now = self._clock.now()
        working: dict[RunKey, _Working] = {}
        currents: dict[tuple[str, str], CurrentRun | None] = {}
        replies: list[tuple[Delivery, Outcome]] = []
        direct: list[Outgoing] = []  # answers to other shards that needed no write here
        valid: list[Delivery] = []
        for d in batch:
            try:
                msg = HISTORY_MESSAGE.validate_json(d.body)
            except ValidationError as exc:
                await self._poison.reject(d, f"invalid history message: {_short(exc)}")
                continue
            metrics.message(msg.type)
            try:
                if TRACEPARENT in d.headers:
                    outcome = await self._apply_traced(d, msg, now, working, currents)
                else:
                    outcome = await self._apply(msg, now, working, currents)
            except Exception:
                # The batch fails as a whole (and is logged in _loop); this line names the run.
                log.warning(
                    "applying %s failed",
                    msg.type,
                    extra={
                        "shard": self.shard_id,
                        "namespace": msg.namespace,
                        "workflow_id": msg.workflow_id,
                        "run_id": getattr(msg, "run_id", None),
                    },
                )
                raise
            if not outcome.changed:
                direct.extend(self._route(o) for o in outcome.outbox)
            valid.append(d)
            if outcome.reply is not None and d.reply_to:
                replies.append((d, outcome))
        writes = [w.write for w in working.values() if w.write is not None]
        to_publish: list[PendingOutbox] = []
        if writes or self._published:
            published, self._published = self._published, []
            t0 = metrics.now()
            try:
                to_publish = await self._store.commit(
                    shard_id=self.shard_id, range_id=self.range_id, writes=writes, published_seqs=published
                )
            except StoreError:
                self._published = published + self._published
                raise
            metrics.COMMIT_SECONDS.observe(metrics.now() - t0)
            metrics.committed(writes)
            self._cache_committed(working)
        if to_publish:
            t0 = metrics.now()
            await self._publish(to_publish)
            metrics.OUTBOX_LAG.observe(metrics.now() - t0)
            metrics.PUBLISHED.inc(len(to_publish))
        self._published.extend(p.seq for p in to_publish)
        if direct:
            # Nothing to write here (e.g. a signal to a workflow that does not exist), so nothing
            # to put in the outbox: answered after the commit, before the ack (at least once).
            await self._bus.publish_many(
                [
                    OutMessage(
                        exchange=o.exchange,
                        routing_key=o.routing_key,
                        body=o.message.model_dump_json().encode(),
                    )
                    for o in direct
                ]
            )
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
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.BATCH_SECONDS.observe(metrics.now() - started)

    def _cache_committed(self, working: dict[RunKey, _Working]) -> None:
        for key, w in working.items():
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

    async def _apply_traced(
        self,
        d: Delivery,
        msg: HistoryMessage,
        now: datetime,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> Outcome:
        """_apply in a span that continues the message's trace; what it puts in the outbox carries
        the span's context on (stored with the row, so a relay after a crash keeps it too)."""
        attributes: dict[str, str | int] = {
            SERVICE_ATTRIBUTE: "history",
            "tidal.shard": self.shard_id,
            "tidal.namespace": msg.namespace,
            "tidal.workflow_id": msg.workflow_id,
        }
        with _tracer.start_as_current_span(
            f"history {msg.type}", context=extract(d.headers), kind=SpanKind.CONSUMER, attributes=attributes
        ):
            outcome = await self._apply(msg, now, working, currents)
            if outcome.outbox:
                carrier = current_headers()
                for item in outcome.outbox:
                    item.headers.update(carrier)
            return outcome

    async def _publish(self, items: list[PendingOutbox]) -> None:
        if items:
            await self._bus.publish_many(
                [
                    OutMessage(
                        exchange=p.exchange,
                        routing_key=p.routing_key,
                        body=p.body,
                        headers=p.headers,
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
        if isinstance(msg, StartWorkflowExecution | StartChildWorkflowExecution):
            ck = (msg.namespace, msg.workflow_id)
            if ck not in currents:
                currents[ck] = await self._store.load_current(msg.namespace, msg.workflow_id)
            new_id, current = str(uuid.uuid4()), currents[ck]
            if isinstance(msg, StartWorkflowExecution):
                if terminates_existing(msg, current):
                    assert current is not None
                    await self._terminate_for_start(msg, current, now, working, currents)
                    current = None
                outcome = start_workflow.handle(
                    msg, current, new_run_id=new_id, shard_id=self.shard_id, now=now
                )
                self._record_new_run(outcome, working, currents, memo=msg.memo, attrs=msg.search_attributes)
            else:
                outcome = start_child_workflow.handle(
                    msg, current, new_run_id=new_id, shard_id=self.shard_id, now=now
                )
                self._record_new_run(outcome, working, currents)
            return outcome
        if isinstance(msg, FireTimer) and msg.kind is TimerKind.RETENTION:
            return await self._retention(msg, now, working)
        # A run started earlier in this batch is not committed yet: the batch's view comes first.
        batch_current = currents.get((msg.namespace, msg.workflow_id))
        run_id = (
            getattr(msg, "run_id", None)
            or (batch_current.run_id if batch_current is not None else None)
            or await self._current_run_id(msg.namespace, msg.workflow_id)
        )
        w = await self._working(working, (msg.namespace, msg.workflow_id, run_id)) if run_id else None
        handler = HANDLERS[type(msg)]
        if w is None:
            if isinstance(msg, ANSWERS_MISSING):
                return handler(None, [], msg, now=now)
            return Outcome(state=None)
        state, history = w.run.state, w.run.events
        outcome = handler(state, history, msg, now=now)
        self._record_change(w, outcome, working, currents)
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
            earlier = w.write.outbox if w.write is not None else []
            w.write = RunWrite(state=w.run.state, old_version=stored, purge=True, outbox=earlier)
        else:
            self._record_change(w, outcome, working, {})  # a re-armed check: no successor run
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
            self._record_new_run(outcome, working, currents, memo=msg.memo, attrs=msg.search_attributes)
        elif w is not None:
            self._record_change(w, outcome, working, currents)
        return outcome

    def _record_new_run(
        self,
        outcome: Outcome,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
        *,
        memo: Mapping[str, Payload] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """A run started by this batch (a start, signal-with-start, child start, or a
        continue-as-new successor)."""
        if not (outcome.changed and outcome.state is not None):
            return
        st = outcome.state
        outcome.outbox[:] = [self._route(o) for o in outcome.outbox]
        key = (st.namespace, st.workflow_id, st.run_id)
        currents[(st.namespace, st.workflow_id)] = CurrentRun(
            run_id=st.run_id, status=st.status, start_request_id=st.start_request_id
        )
        run = CachedRun(state=st, version=1, events=list(outcome.events))
        write = RunWrite(
            state=st,
            old_version=None,
            events=list(outcome.events),
            outbox=outcome.outbox,
            memo={k: v.model_dump(mode="json") for k, v in (memo or {}).items()},
            search_attributes=dict(attrs or {}),
        )
        write.record_timers(outcome.timers_set, outcome.timers_deleted)
        working[key] = _Working(run=run, write=write)

    def _record_change(
        self,
        w: _Working,
        outcome: Outcome,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> None:
        if not outcome.changed:
            return
        outcome.outbox[:] = [self._route(o) for o in outcome.outbox]
        if w.write is None:
            w.write = RunWrite(state=w.run.state, old_version=w.run.version)
        w.write.events.extend(outcome.events)
        w.write.record_timers(outcome.timers_set, outcome.timers_deleted)
        w.write.outbox.extend(outcome.outbox)
        w.run.events.extend(outcome.events)
        w.run.version = w.write.new_version
        if outcome.successor is not None:  # continue-as-new: the next run, in the same commit
            self._record_new_run(outcome.successor, working, currents)

    async def _terminate_for_start(
        self,
        msg: StartWorkflowExecution,
        current: CurrentRun,
        now: datetime,
        working: dict[RunKey, _Working],
        currents: dict[tuple[str, str], CurrentRun | None],
    ) -> None:
        """id_conflict_policy TERMINATE_EXISTING: the running run is terminated in the same batch
        (so the same commit) that starts the new one; the start then sees no current run."""
        w = await self._working(working, (msg.namespace, msg.workflow_id, current.run_id))
        if w is not None:
            terminate = TerminateWorkflowExecution(
                namespace=msg.namespace,
                workflow_id=msg.workflow_id,
                run_id=current.run_id,
                reason=f"terminated by start {msg.request_id} (id_conflict_policy TerminateExisting)",
                identity=msg.identity,
            )
            outcome = terminate_workflow.handle(w.run.state, w.run.events, terminate, now=now)
            self._record_change(w, outcome, working, currents)

    def _route(self, o: Outgoing) -> Outgoing:
        """Messages for another workflow go to the history shard that owns it."""
        if o.to_workflow is None or o.routing_key:
            return o
        shard = shard_for(o.to_workflow[0], o.to_workflow[1], self._shard_count)
        return dataclasses.replace(o, routing_key=names.shard_routing_key(shard))

    async def _working(self, working: dict[RunKey, _Working], key: RunKey) -> _Working | None:
        w = working.get(key)
        if w is not None:
            return w
        cached = self._cache.get(key)
        if cached is None:
            t0 = metrics.now()
            loaded = await self._store.load_run(*key)
            metrics.LOAD_RUN_SECONDS.observe(metrics.now() - t0)
            if loaded is None:
                return None
            cached = CachedRun(
                state=loaded.state,
                version=loaded.version,
                events=loaded.events,
                state_chars=loaded.state_chars,
                events_chars=loaded.events_chars,
            )
        # Transitions mutate the cached run in place (no copy per message: copying the state was the
        # largest single cost in history's profile). That is safe because a batch that fails in any
        # way clears the whole cache (see _run_batch), so nothing uncommitted outlives it; and stale or
        # duplicate messages are recognised before a transition touches anything.
        w = _Working(run=cached)
        working[key] = w
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


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
