"""Rate-limited task queues' activity tasks: held in a durable queue of their own, released to
the worker queue at the declared rate (the I/O around rate_limit.py's pure state).

Matching's main consumer never waits for a token: it moves a limited queue's task into that
queue's held queue (publish confirmed, then ack), so a limited task queue never holds back the
deliveries of another. Each held queue is consumed by a single active consumer across matching
processes; a task waits there unacked until the bucket has a token, is published to the worker
queue, then acked: a crash at any point leaves it in a queue. The consumer's prefetch
(rate_limit.release_prefetch) lets the publishes overlap; waits for a token go one at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import MATCHING_MESSAGE, MatchingMessage
from tidal_server.bus import Bus, BusError, Consumer, Delivery, NotFoundError, OutMessage, UnroutableError
from tidal_server.clock import Clock

from . import metrics
from .queues import held_queue_spec
from .rate_limit import DeclaredRates, TaskQueueKey, TokenBucket, release_prefetch

__all__ = ["Forward", "HeldTasks"]

log = logging.getLogger("tidal.matching")

Forward = Callable[[MatchingMessage], Awaitable[bool]]
"""Dispatch a released task to its worker queue; False: no queue took it (requeue)."""


class HeldTasks:
    def __init__(
        self,
        *,
        bus: Bus,
        clock: Clock,
        monotonic: Callable[[], float],
        rates: DeclaredRates,
        forward: Forward,
    ) -> None:
        """`clock` paces (the runtime's: a test's FakeClock, the time-skipping environment's
        SkippingClock); `monotonic` times the declarations' time to live: workers declare again
        every 10 s of real time, so a clock that skips an hour must not make their rate lapse."""
        self._bus = bus
        self._clock = clock
        self._monotonic = monotonic
        self._rates = rates
        self._forward = forward
        self._consumers: dict[TaskQueueKey, Consumer] = {}
        self._prefetch: dict[TaskQueueKey, int] = {}
        self._buckets: dict[TaskQueueKey, TokenBucket] = {}
        self._wakes: dict[TaskQueueKey, asyncio.Event] = {}
        # One release at a time waits for a task queue's next token (FIFO): no thundering herd.
        self._turns: dict[TaskQueueKey, asyncio.Lock] = {}
        # Releases in hand per task queue (a queue is let go only when it has none: `retire`).
        self._busy: dict[TaskQueueKey, int] = {}
        self._attach_lock = asyncio.Lock()

    def now(self) -> float:
        return self._clock.now().timestamp()

    def declared_now(self) -> float:
        """The time declarations are recorded and lapse in (see __init__)."""
        return self._monotonic()

    def limited(self, key: TaskQueueKey) -> bool:
        # Every activity task asks: no clock read while no task queue has a rate.
        return bool(self._rates) and self._rates.rate(key, self._monotonic()) is not None

    def attached(self, key: TaskQueueKey) -> bool:
        return key in self._consumers

    def attached_keys(self) -> list[TaskQueueKey]:
        return list(self._consumers)

    async def attach(self, key: TaskQueueKey, rate: float | None) -> None:
        """Declare the task queue's held queue and release from it, with the prefetch that fits
        `rate` (idempotent; a rate that needs another prefetch consumes anew: the tasks in hand
        go back to the queue)."""
        prefetch = release_prefetch(rate)
        if self._prefetch.get(key) == prefetch:
            return
        async with self._attach_lock:
            if self._prefetch.get(key) == prefetch:
                return
            await self._detach(key)
            name = names.rate_limited_activity_queue(*key)
            await self._bus.declare_queue(held_queue_spec(name))
            self._consumers[key] = await self._bus.consume(
                name, partial(self._release, key), prefetch=prefetch
            )
            self._prefetch[key] = prefetch

    async def hold(self, key: TaskQueueKey, body: bytes, priority: int) -> None:
        """Put a task (its AddActivityTask body, as received) in the task queue's held queue;
        returns once the broker confirmed it."""
        message = OutMessage(
            exchange="", routing_key=names.rate_limited_activity_queue(*key), body=body, priority=priority
        )
        rate = self._rates.rate(key, self._monotonic())
        if key not in self._consumers:
            await self.attach(key, rate)
        try:
            await self._bus.publish(message)
        except UnroutableError:
            # Deleted by an operator: declare it again (the raise goes to the caller, who requeues).
            await self._detach(key)
            await self.attach(key, rate)
            await self._bus.publish(message)
        metrics.HELD.labels(*key).inc()

    def wake(self, key: TaskQueueKey) -> None:
        """The task queue's rate changed: a release waiting for a token looks again."""
        event = self._wakes.pop(key, None)
        if event is not None:
            event.set()

    async def stop(self) -> None:
        for key in list(self._consumers):
            await self._detach(key)

    async def _detach(self, key: TaskQueueKey) -> None:
        self._prefetch.pop(key, None)
        consumer = self._consumers.pop(key, None)
        if consumer is not None:
            with contextlib.suppress(BusError):
                await consumer.cancel()

    async def retire(self, key: TaskQueueKey) -> bool:
        """Let go of a task queue whose rate lapsed long ago (`DeclaredRates.stale`): its release
        consumer, bucket and turn, so that declarations for ever new task queues cannot grow a
        process without bound. False (kept) while a release is in hand or tasks wait in its held
        queue. A later hold attaches it again."""
        name = names.rate_limited_activity_queue(*key)
        try:
            depth = await self._bus.queue_depth(name)
        except NotFoundError:
            depth = 0
        except BusError:
            return False
        turn = self._turns.get(key)
        if depth or self._busy.get(key) or (turn is not None and turn.locked()):
            return False
        async with self._attach_lock:
            await self._detach(key)
        self._buckets.pop(key, None)
        self._turns.pop(key, None)
        event = self._wakes.pop(key, None)
        if event is not None:
            event.set()
        return True

    async def _release(self, key: TaskQueueKey, delivery: Delivery) -> None:
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            await self._release_one(key, delivery)
        finally:
            left = self._busy.get(key, 1) - 1
            if left > 0:
                self._busy[key] = left
            else:
                self._busy.pop(key, None)

    async def _release_one(self, key: TaskQueueKey, delivery: Delivery) -> None:
        try:
            msg = MATCHING_MESSAGE.validate_json(delivery.body)
        except ValidationError as exc:
            # Only matching publishes here, after validating: someone else wrote into the queue.
            await delivery.dead_letter(
                f"invalid held task: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
            )
            return
        if not self._take_now(key):
            async with self._turns.setdefault(key, asyncio.Lock()):
                await self._wait_turn(key)
        if not await self._forward(msg):
            await delivery.nack(requeue=True)
            return
        await delivery.ack()

    def _take_now(self, key: TaskQueueKey) -> bool:
        """A token without waiting (or no rate): the releases in hand go in one loop turn."""
        now = self.now()
        rate = self._rates.rate(key, self._monotonic())
        if rate is None:
            self._buckets.pop(key, None)
            return True
        bucket = self._bucket(key, rate, now)
        if bucket.wait(now) > 0:
            return False
        self._buckets[key] = bucket.take(now)
        return True

    def _bucket(self, key: TaskQueueKey, rate: float, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket.full(rate=rate, now=now)
        elif bucket.rate != rate:
            bucket = bucket.with_rate(rate, now)
        self._buckets[key] = bucket
        return bucket

    async def _wait_turn(self, key: TaskQueueKey) -> None:
        """Returns when the task queue's bucket gave a token, or the queue has no rate (any
        more): its held tasks then go on at once."""
        while True:
            now, declared_now = self.now(), self._monotonic()
            rate = self._rates.rate(key, declared_now)
            if rate is None:
                self._buckets.pop(key, None)
                return
            bucket = self._bucket(key, rate, now)
            wait = bucket.wait(now)
            if wait <= 0:
                self._buckets[key] = bucket.take(now)
                return
            # Until the token, or until the rate lapses (then nothing limits the queue).
            await self._sleep(key, min(wait, max(self._rates.lapses_in(key, declared_now), 0.001)))

    async def _sleep(self, key: TaskQueueKey, seconds: float) -> None:
        """The wait for a token is the rate limit itself (the clock's sleep); a new declaration
        for the task queue cuts it short."""
        event = self._wakes.setdefault(key, asyncio.Event())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        woken = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()
