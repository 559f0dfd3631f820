"""Firing due timers: the loop that claims what is due and the publishes that confirm it.

The loop never waits for a confirm (nor for the stale lookup, stale_check.py): it claims the due
timers, hands them to a publish of their own and goes back to sleep until the next due time, so a
timer falling due while an earlier batch's confirm is outstanding goes out at its own time. A
confirmed fire is forgotten; a failed publish gives its timers back (due again after a backoff),
so a timer is only ever forgotten once its fire is confirmed or its row is found gone. Fires are
at least once: history discards stale and repeated ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tidal_schema import names
from tidal_schema.messages import FireTimer, ScheduleTimer
from tidal_server.bus import Bus, OutMessage
from tidal_server.clock import Clock

from . import metrics
from .heap import Entry, TimerHeap
from .settings import TimerSettings
from .stale_check import Park

__all__ = ["Firing"]

log = logging.getLogger("tidal.timer")


class Firing:
    """The firing loop (`run`) and its publishes in flight, with the figures tests and the service
    read (fired, lateness, publish failures, fires sent unchecked)."""

    def __init__(
        self,
        *,
        heap: TimerHeap[ScheduleTimer],
        bus: Bus,
        clock: Clock,
        settings: TimerSettings,
        unchecked: Callable[[Entry[ScheduleTimer]], bool],
        park: Park,
        settled: Callable[[list[Entry[ScheduleTimer]]], None],
    ) -> None:
        self._heap = heap
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._unchecked = unchecked
        self._park = park
        self._settled = settled
        # Fires go out this much before their due time; history holds each until its `fire_at`.
        self._lead = timedelta(seconds=settings.fire_lead_seconds)
        self.wake = asyncio.Event()
        """Set when the loop must re-plan: an earlier timer arrived, or a publish settled."""
        self._publishing: set[asyncio.Task[None]] = set()
        self._backoff = settings.publish_backoff_initial_seconds
        self._retry_at: datetime | None = None  # after a failed publish: no fire before this
        self.fired = 0
        self.lateness = 0.0
        """Seconds between due time and publish confirm, for the latest fired batch (its earliest)."""
        self.max_lateness = 0.0
        self.publish_failures = 0
        self.fired_unchecked = 0
        """Fires published before the look-ahead answered whether their row is still there."""

    @property
    def publishing(self) -> bool:
        return bool(self._publishing)

    async def run(self) -> None:
        while True:
            # Cleared before looking at the heap: an insert after this point wakes the wait below.
            self.wake.clear()
            now = self._clock.now()
            if self._retry_at is not None and now < self._retry_at:
                await self._park("fire", (self._retry_at - now).total_seconds(), None)
                continue
            if len(self._publishing) >= self._settings.publish_in_flight_max:
                await self._park("fire", None, self.wake)  # a publish settling sets it
                continue
            due = self._heap.claim_due(now + self._lead, self._settings.publish_batch_max)
            if not due:
                nxt = self._heap.next_due()
                wait = None if nxt is None else (nxt - self._lead - now).total_seconds()
                await self._park("fire", wait, self.wake)
                continue
            unchecked = [e for e in due if self._unchecked(e)]
            for e in unchecked:
                metrics.UNCHECKED.labels(e.value.fire.kind.value).inc()
            self.fired_unchecked += len(unchecked)
            task = asyncio.create_task(self._fire(due))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def stop(self) -> None:
        """Cancel the publishes in flight (their timers are given back; the next owner of a
        shard reloads its timers anyway)."""
        for task in list(self._publishing):
            task.cancel()
        await asyncio.gather(*self._publishing, return_exceptions=True)

    async def _fire(self, due: list[Entry[ScheduleTimer]]) -> None:
        confirmed: list[Entry[ScheduleTimer]] = []
        try:
            await self._publish(due)
        except asyncio.CancelledError:
            self._heap.unclaim(due)
            raise
        except Exception:
            self._heap.unclaim(due)
            self.publish_failures += 1
            metrics.PUBLISH_FAILURES.inc()
            log.warning(
                "publishing %d timer fires failed; retrying in %.2fs", len(due), self._backoff, exc_info=True
            )
            self._retry_at = self._clock.now() + timedelta(seconds=self._backoff)
            self._backoff = min(self._backoff * 2, self._settings.publish_backoff_max_seconds)
        else:
            self._backoff = self._settings.publish_backoff_initial_seconds
            self._retry_at = None
            fired_at = self._clock.now()
            self._heap.forget(due)
            confirmed = due
            self.fired += len(due)
            self.lateness = max(0.0, (fired_at - due[0].due).total_seconds())
            self.max_lateness = max(self.max_lateness, self.lateness)
            for e in due:
                kind = e.value.fire.kind.value
                metrics.FIRED.labels(kind).inc()
                metrics.LATENESS.labels(kind).observe(max(0.0, (fired_at - e.due).total_seconds()))
        # Out of the in-flight set before the loop is woken (the task's done callback would run
        # only after the loop looked, and it would wait for a slot that is already free).
        self._publishing.discard(asyncio.current_task())
        self.wake.set()  # re-plan: a slot is free, or nothing fires before the retry time
        self._settled(confirmed)

    async def _publish(self, due: list[Entry[ScheduleTimer]]) -> None:
        await self._bus.publish_many(
            [
                OutMessage(
                    exchange=names.HISTORY_EXCHANGE,
                    routing_key=names.shard_routing_key(e.value.shard_id),
                    body=fire.model_dump_json().encode(),
                    decoded=fire,
                    headers={names.FIRE_HEADER: e.due.isoformat()},
                    # Same id for every attempt of one fire: lets tracing and dedup tools see repeats.
                    message_id=f"{e.key}@{e.due.isoformat()}",
                )
                for e in due
                for fire in (_with_due(e),)
            ]
        )


def _with_due(e: Entry[ScheduleTimer]) -> FireTimer:
    """The fire with its due time, so that history applies it no earlier even when it is sent
    ahead (`fire_lead_seconds`) or this host's clock runs ahead of history's."""
    fire = e.value.fire
    return fire if fire.fire_at == e.due else fire.model_copy(update={"fire_at": e.due})
