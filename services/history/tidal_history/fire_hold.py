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
ahead than `hold_max` (a clock far off, or a forged message) is held only that long, so that held
fires can never take the shard's prefetch for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError
from tidal_schema.messages import FireTimer
from tidal_server.bus import Delivery
from tidal_server.clock import Clock

__all__ = ["FireHold", "due_of"]

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

    def __init__(self, *, clock: Clock, hold_max: float, release: Callable[[Delivery], None]) -> None:
        self._clock = clock
        self._hold_max = hold_max
        self._release = release
        self._held: set[asyncio.Task[None]] = set()
        self.held_total = 0
        """Fires that arrived early and were held (tests and figures)."""

    def __len__(self) -> int:
        return len(self._held)

    def offer(self, delivery: Delivery, due: datetime | None) -> bool:
        """Hold `delivery` if `due` is still ahead on this clock; False: it may be applied now."""
        if due is None or due <= self._clock.now():
            return False
        self.held_total += 1
        task = asyncio.create_task(self._hold(delivery, due))
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        return True

    async def _hold(self, delivery: Delivery, due: datetime) -> None:
        # The whole hold is bounded by hold_max; within it, sleep again until the clock has passed
        # the due time (an event loop may wake a timer a little early, and the wall clock the due
        # time is on is not the monotonic clock the loop sleeps on).
        limit = self._clock.now().timestamp() + self._hold_max
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
