"""Timer fires that arrive before their due time, held until it.

The timer service sends a fire a little ahead of its due time (`fire_lead_seconds`), so that its
wake-up, the publish, the broker and this process's reader are behind it by the due time instead
of after it (docs/performance.md, "Latency"). A fire carrying `fire_at` in the future on this
process's clock is held here, unacked, and put in the shard's inbox once the clock has passed it:
the batch that applies it starts after that, so its TimerFired is stamped at or after the due time
and a sleep never returns early, whatever the sender's clock says.

A held fire is still the broker's: if the process dies or the shard moves, the broker redelivers
it to the next owner, which holds it again (or applies it, if its time has come). A duplicate is
held and applied like the first and is a no-op in history. A fire claiming a due time further
ahead than `hold_max` (a clock far off, or a forged message) is held only that long.

Held fires are unacked, so each takes one of the shard's prefetch slots: with the prefetch full of
them the broker sends the shard nothing else (a start, a signal, a completion) until they are due.
So at most `cap` fires are held until due; one that arrives while `cap` are held waits at most
`EXCESS_WAIT` (or until due, or until a place frees up) and is then moved to the back of the
shard's queue (`move`: a confirmed copy, then the ack), behind whatever the broker holds for the
shard meanwhile. A copy may arrive twice (a crash between the publish and the ack): a duplicate
fire, a no-op. If the copy cannot be published, the fire stays held until due, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import FireTimer
from tidal_server.bus import Bus, Delivery, OutMessage
from tidal_server.clock import Clock

__all__ = ["EXCESS_WAIT", "FireHold", "due_of", "mover"]

EXCESS_WAIT = 0.1
"""Seconds a fire past the cap waits before it is moved to the back of the queue: short enough
that the messages behind it are not held up noticeably, long enough that fires of an otherwise
empty queue go round at most ten times a second each instead of as fast as the broker can."""

log = logging.getLogger("tidal.history.shard")


def due_of(delivery: Delivery) -> datetime | None:
    """The due time a fire carries (None: not a fire, or no due time). The in-memory bus hands
    the model over; from the wire the body is decoded as a FireTimer (only bodies that look like
    a fire come here, and a body that is not one is simply not held)."""
    model = getattr(delivery, "decoded", None)
    if not isinstance(model, FireTimer):
        try:
            model = FireTimer.model_validate_json(delivery.body)
        except ValidationError:
            return None
    return model.fire_at


class FireHold:
    """Early fires of one shard, each waiting on the clock for its due time."""

    def __init__(
        self,
        *,
        clock: Clock,
        hold_max: float,
        release: Callable[[Delivery], None],
        cap: int | None = None,
        move: Callable[[Delivery], Awaitable[None]] | None = None,
    ) -> None:
        self._clock = clock
        self._hold_max = hold_max
        self._release = release
        self._cap = cap
        self._move = move
        self._held: set[asyncio.Task[None]] = set()
        self._until_due = 0  # holds past their excess wait, i.e. counted against the cap
        self.held_total = 0
        """Fires that arrived early and were held (tests and figures)."""
        self.moved_total = 0
        """Early fires moved to the back of the queue because `cap` were held (tests and figures)."""

    def __len__(self) -> int:
        return len(self._held)

    def offer(self, delivery: Delivery, due: datetime | None) -> bool:
        """Hold `delivery` if `due` is still ahead on this clock; False: it may be applied now."""
        if due is None or due <= self._clock.now():
            return False
        self.held_total += 1
        # Counted against the cap at once: fires offered in one loop turn see each other.
        excess = not self._room()
        if not excess:
            self._until_due += 1
        task = asyncio.create_task(self._hold(delivery, due, excess=excess))
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        return True

    def _room(self) -> bool:
        return self._cap is None or self._move is None or self._until_due < self._cap

    async def _hold(self, delivery: Delivery, due: datetime, *, excess: bool) -> None:
        # The whole hold is bounded by hold_max; within it, sleep again until the clock has passed
        # the due time (an event loop may wake a timer a little early, and the wall clock the due
        # time is on is not the monotonic clock the loop sleeps on).
        limit = self._clock.now().timestamp() + self._hold_max
        if excess:
            await self._clock.sleep(max(0.0, min((due - self._clock.now()).total_seconds(), EXCESS_WAIT)))
            if self._clock.now() < due and not self._room() and await self._moved(delivery):
                return
            self._until_due += 1
        try:
            await self._hold_until(delivery, due, limit)
        finally:
            self._until_due -= 1

    async def _moved(self, delivery: Delivery) -> bool:
        assert self._move is not None
        try:
            await self._move(delivery)
        except Exception:
            log.warning("could not move an early timer fire behind the queue; holding it", exc_info=True)
            return False
        self.moved_total += 1
        return True

    async def _hold_until(self, delivery: Delivery, due: datetime, limit: float) -> None:
        while (now := self._clock.now()) < due:
            left = min((due - now).total_seconds(), limit - now.timestamp())
            if left <= 0:
                log.warning(
                    "a timer fire due at %s is still early after %.1fs held; applying it now",
                    due.isoformat(),
                    self._hold_max,
                )
                break
            await self._clock.sleep(left)
        self._release(delivery)

    async def close(self) -> None:
        """Drop what is held: the deliveries are the broker's again once the consumer is gone."""
        for task in list(self._held):
            task.cancel()
        await asyncio.gather(*self._held, return_exceptions=True)
        self._held.clear()
        self._until_due = 0  # a hold cancelled before it ran never counted itself down


def mover(bus: Bus, shard_id: int) -> Callable[[Delivery], Awaitable[None]]:
    """Moves a delivery of shard `shard_id`'s queue to its back: a copy with the same body,
    headers and ids, confirmed by the broker before the original is acked."""

    async def move(delivery: Delivery) -> None:
        await bus.publish(
            OutMessage(
                exchange=names.HISTORY_EXCHANGE,
                routing_key=names.shard_routing_key(shard_id),
                body=delivery.body,
                headers=dict(delivery.headers),
                message_id=delivery.message_id,
                correlation_id=delivery.correlation_id,
                reply_to=delivery.reply_to,
            )
        )
        await delivery.ack()

    return move
