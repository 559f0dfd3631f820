"""The timer service: owns timer shards, keeps their near future in a heap, fires due timers to the
owning history shard.

Durability lives in Postgres (history commits the `timers` row with the transition), so this
process is a cache that may be lost at any time: on acquiring a shard it reads the shard's rows
due before now + window (overdue ones too), and every load interval the next contiguous slice.
History sends a ScheduleTimer only for a timer due too soon for those reads to see in time
(tidal_server.timer_horizon); one due beyond the loaded slice is acked and left to a read. The
sweep (sweep.py) fires late any overdue row that came in neither way. Fires are at least once and
history discards stale and repeated ones.

Firing never waits for anything but the due time (firing.py); which timers could only fire stale
is looked up ahead of their due time by a loop of its own (stale_check.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import TIMER_MESSAGE, ScheduleTimer, ScheduleTimers
from tidal_server.bus import BusError, Delivery, ExclusiveConsumerError, QueueSpec
from tidal_server.db.raw import autocommit
from tidal_server.service import Runtime
from tidal_server.sharding import Membership

from . import metrics
from .firing import Firing
from .heap import Entry, TimerHeap
from .loading import Loader, Shard
from .settings import TimerSettings
from .stale_check import Lookup, StaleCheck
from .store import existing_keys
from .sweep import Sweep

__all__ = ["TimerService", "timer_queue_spec"]

log = logging.getLogger("tidal.timer")


def timer_queue_spec(shard_id: int) -> QueueSpec:
    # Must equal history's declaration (tidal_history.topology): a different spec is a
    # PreconditionError on redeclare.
    return QueueSpec(
        name=names.timer_queue(shard_id), bindings=[(names.TIMER_EXCHANGE, names.shard_routing_key(shard_id))]
    )


class TimerService:
    name = "timer"

    def __init__(self, runtime: Runtime, settings: TimerSettings, *, lookup: Lookup = existing_keys) -> None:
        self._rt = runtime
        self._settings = settings
        self._window = timedelta(seconds=settings.load_window_seconds)
        # The reads below are single statements: in autocommit they are sent alone, not between a
        # BEGIN and the ROLLBACK the pool issues when the connection comes back.
        self._reads = autocommit(runtime.engine)
        self.heap: TimerHeap[ScheduleTimer] = TimerHeap()
        self.shards: dict[int, Shard] = {}
        self._load_now = asyncio.Event()  # the loader runs before its interval (a backlog drained)
        self._supervisor = runtime.supervisor("timer")
        self._sweep = Sweep(
            engine=self._reads,
            limit=settings.load_batch_max,
            interval=timedelta(seconds=settings.sweep_interval_seconds),
            grace=timedelta(seconds=settings.sweep_grace_seconds),
            start=runtime.clock.now(),
        )
        self._parked: dict[str, datetime | None] = {}  # loop name -> deadline it sleeps until
        self._check = StaleCheck(
            heap=self.heap,
            engine=self._reads,
            lookup=lookup,
            clock=runtime.clock,
            lookahead=timedelta(seconds=settings.stale_lookahead_seconds),
            batch_max=settings.publish_batch_max,
            backoff=(settings.publish_backoff_initial_seconds, settings.publish_backoff_max_seconds),
            park=self._park,
            on_stale=self._stale,
        )
        self._firing = Firing(
            heap=self.heap,
            bus=runtime.bus,
            clock=runtime.clock,
            settings=settings,
            unchecked=self._check.pending,
            park=self._park,
            settled=self._fired,
        )
        # Figures for the metrics issue; plain attributes until then.
        self.received = 0
        """Timer messages received (applied, ignored as beyond the window, or dead-lettered)."""
        self.stale_dropped = 0
        self.dead_lettered = 0
        # Set on every state change (message handled, load done, batch fired): lets tests wait on
        # a condition instead of sleeping.
        self.progress = asyncio.Event()
        self._loader = Loader(
            reads=self._reads,
            clock=runtime.clock,
            window=self._window,
            batch_max=settings.load_batch_max,
            shards=self.shards,
            sweep=self._sweep,
            insert=self._insert,
            held=self.heap.__contains__,
            count=self.heap.count,
            progress=self.progress,
        )
        self.membership = Membership(
            engine=runtime.engine,
            clock=runtime.clock,
            service="timer",
            member_id=runtime.member_id,
            shard_count=runtime.shard_count,
            acquire=self._acquire,
            release=self._release,
            heartbeat=timedelta(seconds=settings.heartbeat_seconds),
            ttl=timedelta(seconds=settings.member_ttl_seconds),
            supervisor=self._supervisor,
        )

    # Figures (tests read them; /metrics has the same as counters).
    @property
    def fired(self) -> int:
        return self._firing.fired

    @property
    def fired_unchecked(self) -> int:
        return self._firing.fired_unchecked

    @property
    def lateness(self) -> float:
        return self._firing.lateness

    @property
    def max_lateness(self) -> float:
        return self._firing.max_lateness

    @property
    def publish_failures(self) -> int:
        return self._firing.publish_failures

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        metrics.SHARD_COUNT.set(self._rt.shard_count)
        metrics.HEAP_SIZE.set_function(lambda: len(self.heap))
        metrics.SHARDS_OWNED.set_function(lambda: len(self.shards))
        bus = self._rt.bus
        await bus.declare_exchange(names.TIMER_EXCHANGE, "direct")
        await bus.declare_exchange(names.HISTORY_EXCHANGE, "direct")
        # History declares these too; whoever starts first must not lose ScheduleTimers.
        for shard in range(self._rt.shard_count):
            await bus.declare_queue(timer_queue_spec(shard))
        # Supervised: a loop that dies is restarted with backoff (and /readyz says so meanwhile)
        # instead of the timers of every owned shard silently never firing again.
        self._supervisor.spawn("fire", self._firing.run)
        self._supervisor.spawn("load", self._load_loop)
        if self._settings.drop_stale_fires:
            self._supervisor.spawn("check", self._check.run)
        await self.membership.start()

    async def stop(self) -> None:
        await self.membership.stop()
        await self._supervisor.stop()
        await self._firing.stop()
        # An acquire interrupted by the stop is not in membership.owned; release it here.
        for shard in list(self.shards):
            await self._release(shard)

    # --- shard ownership --------------------------------------------------------------------

    async def _acquire(self, shard_id: int) -> bool:
        state = Shard(id=shard_id, horizon=self._rt.clock.now() + self._window)
        # Registered before consuming so the first deliveries are accepted.
        self.shards[shard_id] = state
        try:
            state.consumer = await self._rt.bus.consume(
                names.timer_queue(shard_id),
                partial(self._handle, state),
                prefetch=self._settings.prefetch,
                exclusive=True,
            )
        except ExclusiveConsumerError:
            log.info("timer shard %s is still held by its previous owner; retrying", shard_id)
            self.shards.pop(shard_id, None)
            return False
        except BaseException:
            self.shards.pop(shard_id, None)  # Membership logs it and retries on the next heartbeat
            raise
        try:
            await self._loader.load(state, initial=True)
        except Exception:
            # Owning a shard without its recovered timers would silently lose them until the next
            # acquire: give it up and let the next heartbeat try again.
            log.exception(
                "loading timers of shard %s failed; releasing it", shard_id, extra={"shard": shard_id}
            )
            await self._release(shard_id)
            return False
        log.info("acquired timer shard %s (%d timers loaded)", shard_id, self.heap.count(shard_id))
        return True

    async def _release(self, shard_id: int) -> None:
        state = self.shards.pop(shard_id, None)
        if state is None:
            return
        if state.consumer is not None:
            try:
                await state.consumer.cancel()
            except BusError:
                log.warning("cancelling the consumer of timer shard %s failed", shard_id, exc_info=True)
        # The next owner reloads these from the database.
        dropped = self.heap.drop_group(shard_id)
        self._sweep.drop_shard(shard_id)
        log.info("released timer shard %s (%d timers dropped)", shard_id, dropped)
        self.progress.set()

    # --- consuming --------------------------------------------------------------------------

    async def _handle(self, state: Shard, delivery: Delivery) -> None:
        self.received += 1
        metrics.RECEIVED.inc()
        try:
            msg = TIMER_MESSAGE.validate_json(delivery.body)
        except ValidationError as exc:
            await self._dead_letter(
                delivery, f"invalid timer message: {exc.error_count()} error(s): {_short(exc)}"
            )
            return
        # A ScheduleTimers is checked as a whole: history never mixes shards in one.
        parts = msg.timers if isinstance(msg, ScheduleTimers) else (msg,)
        wrong = next((p.shard_id for p in parts if p.shard_id != state.id), None)
        if wrong is not None:
            await self._dead_letter(
                delivery, f"timer message for shard {wrong} arrived on the queue of shard {state.id}"
            )
            return
        if any(isinstance(p, ScheduleTimer) and p.fire_at.tzinfo is None for p in parts):
            await self._dead_letter(delivery, "invalid timer message: fire_at has no time zone")
            return
        if self.shards.get(state.id) is not state:
            # The shard was released while this delivery was in flight: the broker has requeued it
            # for the next owner, and settling it now would only raise.
            return
        if isinstance(msg, ScheduleTimer | ScheduleTimers):
            for sched in parts:
                assert isinstance(sched, ScheduleTimer)
                self._check.touched(sched.key)
                if sched.fire_at <= state.horizon:
                    self._insert(sched)
        else:
            entry = self.heap.get(msg.key)
            if entry is not None and entry.group == state.id:
                self.heap.cancel(msg.key)
        try:
            await delivery.ack()
        except BusError:
            # Requeued by the broker; the redelivery is an idempotent upsert / removal.
            log.debug("could not ack a timer message of shard %s", state.id, exc_info=True)
        self.progress.set()

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        log.warning("dead-lettering a message from %s: %s", delivery.queue, reason)
        self.dead_lettered += 1
        try:
            await delivery.dead_letter(reason)
        except BusError:
            log.warning("could not dead-letter a message from %s", delivery.queue, exc_info=True)
        self.progress.set()

    def _insert(self, sched: ScheduleTimer) -> None:
        if self.heap.schedule(sched.key, sched.fire_at, sched, group=sched.shard_id):
            self._firing.wake.set()
        if self._settings.drop_stale_fires:
            entry = self.heap.get(sched.key)
            assert entry is not None
            self._check.note(entry)

    # --- loading windows --------------------------------------------------------------------

    async def _load_loop(self) -> None:
        interval = self._settings.load_interval_seconds
        while True:
            await self._park("load", interval, self._load_now)
            self._load_now.clear()
            await self._loader.turn()

    # --- firing ---------------------------------------------------------------------------

    def _fired(self, confirmed: list[Entry[ScheduleTimer]]) -> None:
        """A publish settled: a backlog drained by it may let the loader page on."""
        self._sweep.fired(confirmed)
        self._page_on()
        self.progress.set()

    def _stale(self, entries: list[Entry[ScheduleTimer]]) -> None:
        for e in entries:
            metrics.STALE.labels(e.value.fire.kind.value).inc()
        self.stale_dropped += len(entries)
        self._page_on()
        self.progress.set()

    def _page_on(self) -> None:
        if any(s.cursor is not None and not self._loader.backlogged(s.id) for s in self.shards.values()):
            self._load_now.set()

    # --- waiting ----------------------------------------------------------------------------

    async def _park(self, loop: str, seconds: float | None, wake: asyncio.Event | None) -> None:
        """Sleep on the injected clock for `seconds` (forever when None) or until `wake` is set."""
        clock = self._rt.clock
        waits: list[asyncio.Future[Any]] = []
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        if seconds is not None:
            waits.append(asyncio.ensure_future(clock.sleep(seconds)))
        try:
            # One turn of the event loop so the sleep has registered its deadline with the clock
            # before we report being parked (a FakeClock advanced earlier would wake it late).
            await asyncio.sleep(0)
            self._parked[loop] = None if seconds is None else clock.now() + timedelta(seconds=seconds)
            self.progress.set()
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._parked.pop(loop, None)
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    def idle(self) -> bool:
        """Every loop is waiting, no fire is being published and nothing has woken them yet: the
        state only changes when the clock passes a deadline or a message arrives. For tests
        driving a FakeClock."""
        now = self._rt.clock.now()
        loops = {"fire", "load", "check"} if self._settings.drop_stale_fires else {"fire", "load"}
        return (
            loops <= self._parked.keys()
            and all(d is None or d > now for d in self._parked.values())
            and not self._firing.publishing
            and not self._firing.wake.is_set()
            and not self._load_now.is_set()
            and not self._check.wake.is_set()
        )


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
