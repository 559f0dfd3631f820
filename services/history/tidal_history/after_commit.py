"""What happens to a batch after its commit: the outbox publish, the answers, the acks.

Owns finishing committed batches in tasks of their own, so that the shard processor (shard.py)
takes, loads, applies and commits the next batch while the broker confirms this one's messages.
What each step guarantees is what it guaranteed inline (docs/reliability.md):

- only committed rows are published: a batch is handed over after its commit;
- per-shard publish order: each batch's task first waits for the previous batch's, so batch N+1's
  rows go out after batch N's were confirmed; at most `MAX_IN_FLIGHT` batches are committed and
  not yet finished (`ready` waits before a commit), so a slow broker slows the shard down instead
  of piling up batches;
- acks follow the commit and the confirms of the batch's own messages (and the previous batch's
  acks, so one cumulative ack covers the lot);
- a crash or a failure at any point loses nothing: the rows are in the database until confirmed
  and deleted by a later commit, and a failed publish requeues the batch's deliveries (applied
  again, they are answered as duplicates), fails the batches behind it the same way without
  publishing (their rows would overtake), and leaves the rows to the relay, which the processor
  runs before its next commit (`PublishFailedError`).

The direct answers and the replies go out after the outbox's confirms, as they did inline: a
requester that is answered finds the batch's tasks with the broker already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tidal_server.bus import Bus, Delivery, OutMessage, ack_all

from . import metrics
from .store import PendingOutbox, StoreError

__all__ = ["MAX_IN_FLIGHT", "AfterCommit", "Committed", "PublishFailedError"]

log = logging.getLogger("tidal.history.shard")

MAX_IN_FLIGHT = 2
"""Committed batches of one shard whose publish or acks are not finished, at most: one being
published while the next commits is the overlap; more would only hold more deliveries unacked."""


class PublishFailedError(StoreError):
    """An earlier batch's outbox was committed but not published: the relay must run before the next
    commit. A StoreError because the failure policy then treats it as the infrastructure's (requeue,
    back off, relay), never as a fault of a message in the batch that meets it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Committed:
    """A committed batch, as the finisher needs it."""

    outbox: Sequence[PendingOutbox]
    answers: Sequence[OutMessage]
    """Direct answers to other shards and replies to requesters: nothing in the outbox, published
    with it after the commit, before the acks."""
    deliveries: Sequence[Delivery]


class AfterCommit:
    """Finishes one committed batch at a time in the background; see the module docstring."""

    def __init__(
        self,
        *,
        bus: Bus,
        shard_id: int,
        publish: Callable[[list[PendingOutbox]], Awaitable[None]],
        confirmed: Callable[[list[int]], None],
        requeue: Callable[[list[Delivery]], Awaitable[None]],
    ) -> None:
        self._bus = bus
        self._shard_id = shard_id
        self._publish = publish
        self._confirmed = confirmed
        self._requeue = requeue
        self._tasks: list[asyncio.Task[None]] = []
        self.relay_needed = False
        """Set when a batch's publish failed; cleared by the processor once its relay succeeded."""

    def start(self, batch: Committed) -> None:
        """Hand over a committed batch (after `ready`)."""
        previous = self._tasks[-1] if self._tasks else None
        self._tasks.append(
            asyncio.create_task(self._finish(batch, previous), name=f"history-after-commit-{self._shard_id}")
        )

    async def ready(self) -> None:
        """Before a commit: until fewer than MAX_IN_FLIGHT batches are unfinished; raises
        PublishFailedError while a failed publish has not been relayed."""
        self._tasks = [task for task in self._tasks if not task.done()]
        while len(self._tasks) >= MAX_IN_FLIGHT:
            await asyncio.wait([self._tasks[0]])  # never raises, and a cancelled waiter leaves it be
            self._tasks = [task for task in self._tasks if not task.done()]
        if self.relay_needed:
            raise PublishFailedError(f"shard {self._shard_id}: an earlier batch's outbox is unpublished")

    async def settle(self, *, unless: asyncio.Future[None] | None = None) -> None:
        """Until every committed batch is finished, whatever the outcome (before a relay, when the
        shard is lost or the processor stops), or until `unless` is done (a timer fire arrived:
        shard.py takes it while the rest finishes in the background)."""
        pending = [task for task in self._tasks if not task.done()]
        if unless is None:
            if pending:
                await asyncio.wait(pending)
            self._tasks = []
            return
        while pending and not unless.done():
            waited: list[asyncio.Future[None]] = [*pending, unless]
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            pending = [task for task in pending if not task.done()]
        self._tasks = pending

    async def close(self) -> None:
        """Stop: a publish cut short leaves its rows to the next owner's relay, and its deliveries
        unacked (the broker requeues them with the consumer)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _finish(self, batch: Committed, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            if self.relay_needed:
                raise PublishFailedError("an earlier batch's publish failed; its rows go first")
            if batch.outbox:
                t0 = metrics.now()
                await self._publish(list(batch.outbox))
                metrics.OUTBOX_LAG.observe(metrics.now() - t0)
                metrics.PUBLISHED.inc(len(batch.outbox))
                self._confirmed([p.seq for p in batch.outbox])
            # After the confirms: whoever gets an answer finds the batch's tasks with the broker
            # already (the e2e eager-start scenario counts matching's dispatches right after it).
            await self._bus.publish_many(batch.answers)
            await ack_all(batch.deliveries)
        except Exception:
            self.relay_needed = True
            log.warning(
                "publishing a committed batch of shard %s failed; requeueing its %d messages, the "
                "relay publishes its rows",
                self._shard_id,
                len(batch.deliveries),
                exc_info=True,
                extra={"shard": self._shard_id},
            )
            await self._requeue(list(batch.deliveries))
