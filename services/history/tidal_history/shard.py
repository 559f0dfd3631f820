"""One owned shard: the shard processor.

Owns claiming the shard (the exclusive consumer, then the fencing token), the batch loop, the
commit once per batch, and relaying what a crash, a takeover or a failed publish left in the
outbox. What a batch does to the runs it touches is the working set's (working_set.py); publishing
a committed batch's outbox and answers and acking its deliveries is after_commit.py's (in the
background while the next batch runs, with `publish_overlap`, for a timer fire, or after a lone
message); what happens when a batch fails is the batch failure policy's (batch_failures.py),
which isolates poison messages for poison.py.
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import HISTORY_MESSAGE, FireTimer, HistoryMessage
from tidal_server.bus import Bus, Consumer, Delivery, OutMessage, decoded_as, union_members
from tidal_server.clock import Clock
from tidal_server.supervision import ExitHandler, Supervised, Supervisor
from tidal_server.telemetry import SERVICE_ATTRIBUTE, TRACEPARENT, current_headers, extract, tracer

from . import metrics
from .after_commit import AfterCommit, Committed
from .batch_failures import BatchFailurePolicy
from .cache import RunCache, ShardCache
from .direct import SharedQueues
from .direct import publish as publish_outbox
from .dispatch import operation_for
from .fire_hold import FireHold, due_of, mover
from .limit_guards import split_oversized
from .limits import HistoryLimits
from .mutation import Outcome, Outgoing
from .poison import PoisonHandler, PoisonPolicy
from .store import HistoryStore, PendingOutbox, ShardLostError
from .working_set import BatchState, WorkingSet

__all__ = ["ShardProcessor"]

log = logging.getLogger("tidal.history.shard")
_tracer = tracer("tidal.history")

# What a delivery may hand over instead of its bytes (tidal_server.bus.handover).
_HISTORY_KINDS = union_members(HistoryMessage)
# How a timer fire is told from other deliveries before it is decoded (`_is_fire`).
_FIRE_MARK = b'"type":"FireTimer"'
_FIRE_SCAN_BYTES = 4096


class ShardProcessor:
    """Claims one shard and processes its queue in batches until stopped or the shard is lost."""

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
        limits: HistoryLimits | None = None,
        publish_overlap: bool = False,
        shared_queues: SharedQueues | None = None,
        fire_hold_max: float = 5.0,
    ) -> None:
        self.shard_id = shard_id
        self.owner = owner
        self.range_id = 0
        self._store = store
        self._bus = bus
        self._clock = clock
        self._cache = ShardCache(cache, shard_id)
        self._batch_max = batch_max
        self._prefetch = prefetch
        self._publish_overlap = publish_overlap
        self._limits = limits or HistoryLimits()
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._consumer: Consumer | None = None
        self._supervisor = supervisor
        self._on_exit = on_exit
        self._task: Supervised | None = None
        self._poison = PoisonHandler(bus=bus, shard_id=shard_id, policy=poison)
        self._working = WorkingSet(
            shard_id=shard_id,
            shard_count=shard_count,
            store=store,
            cache=self._cache,
            limits=self._limits,
            shared_queues=shared_queues,
        )
        # Lambdas, not bound methods: the policy calls whatever the processor's methods are now.
        self._failures = BatchFailurePolicy(
            shard_id=shard_id,
            process=lambda batch: self._process(batch),
            relay_pending_outbox=lambda: self._relay_pending_outbox(),
            clear_cache=lambda: self._cache.clear(),
            poison=self._poison,
        )
        self._published: list[int] = []
        self._after = AfterCommit(
            bus=bus,
            shard_id=shard_id,
            publish=lambda items: self._publish(items),
            confirmed=lambda seqs: self._published.extend(seqs),
            requeue=lambda deliveries: self._failures.requeue(deliveries),
        )
        # Timer fires in the inbox (ids of their deliveries), and what wakes the loop when one
        # arrives while it waits for a committed batch to finish (`_finish_unless_a_fire_waits`).
        self._fires: set[int] = set()
        self._fire_arrived: asyncio.Future[None] | None = None
        # The same for any delivery, while a lone message's batch finishes.
        self._next_arrived: asyncio.Future[None] | None = None
        # Fires sent ahead of their due time wait there, unacked, until it (fire_hold.py).
        # At most half the prefetch held until due, so the broker still has room to send the shard
        # its other messages; a fire past that goes behind them.
        self.early_fires = FireHold(
            clock=clock,
            hold_max=fire_hold_max,
            release=self._take_fire,
            cap=max(1, prefetch // 2),
            move=mover(bus, shard_id),
        )
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
        await self.early_fires.close()
        await self._after.close()
        await self._poison.stop()
        self._cache.clear()

    async def _enqueue(self, delivery: Delivery) -> None:
        if not _is_fire(delivery):
            self._inbox.put_nowait(delivery)
            waiter = self._next_arrived
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif not self.early_fires.offer(delivery, due_of(delivery)):
            self._take_fire(delivery)

    def _take_fire(self, delivery: Delivery) -> None:
        self._inbox.put_nowait(delivery)
        self._fires.add(id(delivery))
        waiter = self._fire_arrived
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _relay_pending_outbox(self) -> None:
        """After a takeover or crash: what was committed but maybe not published goes out again
        (at least once; consumers are idempotent). Rows this processor already saw confirmed by
        the broker (`_published`, awaiting deletion) are deleted without a second publish: a
        failed batch must not send every recent activity task again (each would run twice). The
        batch still being published goes first: its rows are then either confirmed or pending."""
        await self._after.settle()
        confirmed = set(self._published)
        while True:
            pending = await self._store.pending_outbox(self.shard_id)
            if not pending:
                self._published = []  # every row this processor knew of is deleted now
                self._after.relay_needed = False
                return
            unsent = [p for p in pending if p.seq not in confirmed]
            await self._publish(unsent)
            metrics.RELAYED.inc(len(unsent))
            await self._store.delete_outbox([p.seq for p in pending])

    async def _loop(self) -> None:
        while True:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns a delivery that
                # arrives in the turn the loop is cancelled and swallows the cancel (stop() then
                # waited for ever).
                async with asyncio.timeout(1.0):
                    first = await self._inbox.get()
            except TimeoutError:
                await self._idle()
                continue
            batch = [first]
            while len(batch) < self._batch_max and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            if self._fires:
                for d in batch:
                    self._fires.discard(id(d))
            try:
                await self._failures.run(batch)
            except ShardLostError:
                log.warning(
                    "lost shard %s; stopping its processor", self.shard_id, extra={"shard": self.shard_id}
                )
                metrics.SHARD_LOST.inc()
                await self._after.settle()  # the batch committed before the loss is acked
                await self.early_fires.close()
                await self._failures.requeue(batch)
                self.lost.set()
                if self._consumer is not None:
                    await self._consumer.cancel()
                    self._consumer = None
                return

    async def _idle(self) -> None:
        """Idle: finish the batch in flight, relay what a failed publish left (the next batch would
        otherwise, but none may come), then delete the outbox rows already published."""
        await self._after.settle()
        if self._after.relay_needed:
            try:
                await self._relay_pending_outbox()
            except Exception:
                log.warning(
                    "relaying the outbox of shard %s failed; retrying when idle",
                    self.shard_id,
                    exc_info=True,
                    extra={"shard": self.shard_id},
                )
            return
        await self._delete_published()

    async def _delete_published(self) -> None:
        """Delete the outbox rows already published. A failure keeps them for the next try (a relay
        would only publish them again, which consumers tolerate)."""
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

    async def _process(self, batch: list[Delivery]) -> None:
        started = metrics.now()
        state = BatchState(now=self._clock.now())
        replies: list[tuple[Delivery, Outcome]] = []
        direct: list[Outgoing] = []  # answers to other shards that needed no write here
        valid: list[Delivery] = []
        decoded: list[tuple[Delivery, HistoryMessage]] = []
        for d in batch:
            try:
                msg = decoded_as(d, _HISTORY_KINDS) or HISTORY_MESSAGE.validate_json(d.body)
            except ValidationError as exc:
                await self._poison.reject(d, f"invalid history message: {_short(exc)}")
                continue
            if operation_for(msg) is None:
                # A message type the schema knows but no operation handles (a newer sender):
                # applying it would fail the batch again and again.
                await self._poison.reject(d, f"no operation for history message {msg.type}")
                continue
            decoded.append((d, msg))
        await self._working.preload_currents(state, [msg for _, msg in decoded])
        for d, msg in decoded:
            metrics.message(msg.type)
            try:
                if TRACEPARENT in d.headers:
                    outcome = await self._apply_traced(d, msg, state)
                else:
                    outcome = await self._working.apply(state, msg)
            except Exception:
                # The batch fails as a whole (and is logged by batch_failures.py); this line names
                # the run.
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
                size = outcome.state.history_size_bytes if outcome.state is not None else 0
                direct.extend(self._working.route(o, history_size=size) for o in outcome.outbox)
            valid.append(d)
            if outcome.reply is not None and d.reply_to:
                replies.append((d, outcome))
        writes, schedules = state.writes(), state.schedule_writes()
        # At most one earlier batch is still publishing (its rows go out before this one's); if one
        # failed, the relay runs first (PublishFailedError, handled by the failure policy).
        await self._after.ready()
        to_publish: list[PendingOutbox] = []
        if writes or schedules or self._published:
            published, self._published = self._published, []
            t0 = metrics.now()
            try:
                to_publish = await self._store.commit(
                    shard_id=self.shard_id,
                    range_id=self.range_id,
                    writes=writes,
                    published_seqs=published,
                    schedules=schedules,
                )
            except BaseException:
                # Rolled back, the confirmed rows' deletion with it: whatever failed (a version
                # conflict, or a message's data the database refuses), they stay confirmed, or the
                # relay before the retry would send them again (an eager activity run twice).
                self._published = published + self._published
                raise
            metrics.COMMIT_SECONDS.observe(metrics.now() - t0)
            metrics.committed(writes)
            metrics.schedules_committed(schedules)
            self._working.cache_committed(state)
        metrics.fused_completions(state.fused)
        answers = [
            # Nothing to write here (e.g. a signal to a workflow that does not exist), so nothing
            # to put in the outbox: answered after the commit, before the ack (at least once).
            OutMessage(
                exchange=o.exchange, routing_key=o.routing_key, body=o.message.model_dump_json().encode()
            )
            for o in direct
        ]
        answers += [
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
        self._after.start(Committed(outbox=to_publish, answers=answers, deliveries=valid))
        if not self._publish_overlap or not self._inbox.empty():
            await self._finish_unless_a_fire_waits(lone=len(batch) == 1)
        self.processed += len(valid)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.BATCH_SECONDS.observe(metrics.now() - started)

    async def _finish_unless_a_fire_waits(self, *, lone: bool = False) -> None:
        """Finish the committed batch before taking the next, so that the next one takes everything
        that arrives meanwhile: taking it earlier made batches smaller, more commits and more CPU
        per workflow than the overlap saved (docs/performance.md, histpipe). Except for a timer
        fire: one in the inbox, or arriving meanwhile, starts the next batch now, applied and
        committed while this one's outbox publishes (after_commit.py keeps the publish order, and
        acks after the confirms), instead of waiting out the publish, the replies and the acks:
        that wait was most of a fire's lateness at the p99 (docs/performance.md, "Latency").
        And after a `lone` batch (one message: the shard is not busy) any delivery does the same:
        one at a time, a run's next message (its first task's completion) arrived while the start's
        batch still waited for its confirms in three starts of five, and waited for them too
        (docs/performance.md, "Latency", onep50). A busy shard's batches hold several messages,
        and keep gathering behind the finish. A publish failure still reaches the next commit
        through `ready` (PublishFailedError)."""
        if self._fires or (lone and not self._inbox.empty()):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fire_arrived = waiter
        if lone:
            self._next_arrived = waiter
        try:
            await self._after.settle(unless=waiter)
        finally:
            self._fire_arrived = None
            self._next_arrived = None

    async def _apply_traced(self, d: Delivery, msg: HistoryMessage, state: BatchState) -> Outcome:
        """WorkingSet.apply in a span that continues the message's trace; what it puts in the outbox
        carries the span's context on (stored with the row, so a relay after a crash keeps it too)."""
        attributes: dict[str, str | int] = {
            SERVICE_ATTRIBUTE: "history",
            "tidal.shard": self.shard_id,
            "tidal.namespace": msg.namespace,
            "tidal.workflow_id": msg.workflow_id,
        }
        with _tracer.start_as_current_span(
            f"history {msg.type}", context=extract(d.headers), kind=SpanKind.CONSUMER, attributes=attributes
        ):
            outcome = await self._working.apply(state, msg)
            if outcome.outbox:
                carrier = current_headers()
                for item in outcome.outbox:
                    item.headers.update(carrier)
            return outcome

    async def _publish(self, items: list[PendingOutbox]) -> None:
        # A row the bus would refuse can never be published: it must not wedge the shard.
        items = await split_oversized(items, self._bus, self._limits.max_message_bytes, self.shard_id)
        if items:
            await publish_outbox(self._bus, items, max_message_bytes=self._limits.max_message_bytes)


def _is_fire(d: Delivery) -> bool:
    """Whether a delivery is a timer fire, before it is decoded: the in-memory bus's handed-over
    model, the timer service's header, else (other senders) the type field near the start of the
    JSON. It decides which fires are held until due (fire_hold.py) and when the next batch
    starts: the timer service's fires, the only ones sent early, are always recognised; a body
    wrongly taken for one is decoded once more and not held (it has no due time)."""
    if isinstance(getattr(d, "decoded", None), FireTimer) or names.FIRE_HEADER in d.headers:
        return True
    return d.body.find(_FIRE_MARK, 0, _FIRE_SCAN_BYTES) >= 0


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
