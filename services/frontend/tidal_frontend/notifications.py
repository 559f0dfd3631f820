"""WorkflowClosed notifications: one queue per frontend process, fanned out to in-process waiters.

History publishes `WorkflowClosed` to the fanout exchange `names.NOTIFY_EXCHANGE` after the close
commits. Each frontend process binds its own exclusive, auto-delete, non-durable queue to it, so
every process sees every close and wakes the long polls it holds. Notifications are a hint, not
the truth: they can be lost (the queue is gone while the connection is down) or arrive before the
commit is visible to our read connection, so waiters always re-read the database afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator

from pydantic import ValidationError
from tidal_schema import names
from tidal_schema.messages import NOTIFY_MESSAGE, NotifyMessage, WorkflowClosed
from tidal_server.bus import Bus, BusError, Consumer, Delivery, QueueSpec, decoded_as, union_members

log = logging.getLogger("tidal.frontend.notifications")

RunKey = tuple[str, str, str]
"""(namespace, workflow_id, run_id)"""

# What a delivery may hand over instead of its bytes (tidal_server.bus.handover).
_KINDS = union_members(NotifyMessage)

# Runs this process started and nobody has polled yet, the oldest forgotten first, so starts
# nobody polls (e.g. through the AMQP command exchange) cannot grow the process: about 200 bytes
# each. Of those, the ones whose close came before their poll keep it (an outcome is up to
# NOTIFY_OUTCOME_MAX_BYTES, 64 KiB): at most CLOSES_KEPT, the oldest forgotten with its run, whose
# poll then reads as before. A poll that is already waiting takes its close as it arrives.
STARTED_KEPT = 10_000
CLOSES_KEPT = 256


class ClosedWaiters:
    """In-process waiters for run closes, keyed by (namespace, workflow_id, run_id)."""

    def __init__(self) -> None:
        self._waiters: dict[RunKey, set[asyncio.Future[WorkflowClosed | None]]] = {}
        self._released = False
        # Starts on their way to history, by (namespace, workflow_id): a close that arrives
        # before the reply names the run is kept for it (see `starting`).
        self._starting: dict[tuple[str, str], int] = {}
        self._started: OrderedDict[RunKey, WorkflowClosed | None] = OrderedDict()
        self._closes: OrderedDict[RunKey, None] = OrderedDict()  # the keys of _started with a close
        # Runs whose close was forgotten (CLOSES_KEPT) before their start's reply named them: the
        # reply must not mark them "close not come yet" (their poll would wait for it in vain).
        self._forgotten: OrderedDict[RunKey, None] = OrderedDict()
        # Observer of new watches (a seam for a long-poll metric; tests use it to know a poll is
        # waiting without sleeping).
        self.on_watch: Callable[[RunKey], None] | None = None

    @contextlib.contextmanager
    def watch(self, key: RunKey) -> Iterator[asyncio.Future[WorkflowClosed | None]]:
        """Register before reading the database, so a close committed between the read and the
        wait is not missed. The future resolves with the notification, or None on shutdown."""
        fut: asyncio.Future[WorkflowClosed | None] = asyncio.get_running_loop().create_future()
        if self._released:
            fut.set_result(None)  # shutting down: do not start waiting
        self._waiters.setdefault(key, set()).add(fut)
        if self.on_watch is not None:
            self.on_watch(key)
        try:
            yield fut
        finally:
            group = self._waiters.get(key)
            if group is not None:
                group.discard(fut)
                if not group:
                    del self._waiters[key]

    @contextlib.contextmanager
    def starting(self, namespace: str, workflow_id: str) -> Iterator[Callable[[str], None]]:
        """Around a start sent to history: call what it yields with the run id the reply names,
        and a close of that run that this process receives from then on (or that arrived while
        the start was on its way) is kept until `take_started` (the first result poll)."""
        where = (namespace, workflow_id)
        self._starting[where] = self._starting.get(where, 0) + 1

        def started(run_id: str) -> None:
            key = (namespace, workflow_id, run_id)
            if key in self._forgotten:
                del self._forgotten[key]  # its poll reads as before
            elif key not in self._started:
                self._remember(key, None)

        try:
            yield started
        finally:
            left = self._starting[where] - 1
            if left:
                self._starting[where] = left
            else:
                del self._starting[where]

    def take_started(self, key: RunKey) -> tuple[bool, WorkflowClosed | None]:
        """(whether this process started the run since, and its close if it came); once per run."""
        if key not in self._started:
            return False, None
        self._closes.pop(key, None)
        return True, self._started.pop(key)

    def _remember(self, key: RunKey, closed: WorkflowClosed | None) -> None:
        self._started[key] = closed
        if closed is not None:
            self._closes[key] = None
            if len(self._closes) > CLOSES_KEPT:
                gone = self._closes.popitem(last=False)[0]
                self._started.pop(gone, None)
                if gone[:2] in self._starting:
                    self._forgotten[gone] = None
                    if len(self._forgotten) > STARTED_KEPT:
                        self._forgotten.popitem(last=False)
        if len(self._started) > STARTED_KEPT:
            old, _ = self._started.popitem(last=False)
            self._closes.pop(old, None)

    def watching(self, key: RunKey) -> int:
        return len(self._waiters.get(key, ()))

    def dispatch(self, msg: WorkflowClosed) -> int:
        """Wake every waiter of the run; returns how many were woken."""
        key = (msg.namespace, msg.workflow_id, msg.run_id)
        if key in self._started:
            self._remember(key, msg)
        elif (msg.namespace, msg.workflow_id) in self._starting:
            self._remember(key, msg)
        woken = 0
        for fut in self._waiters.get(key, ()):
            if not fut.done():
                fut.set_result(msg)
                woken += 1
        return woken

    def release_all(self) -> None:
        """On shutdown: end every long poll now (they re-read and answer) instead of holding the
        server's graceful stop for up to long_poll_max_seconds."""
        self._released = True
        for group in self._waiters.values():
            for fut in group:
                if not fut.done():
                    fut.set_result(None)


class NotificationListener:
    """Consumes this process's notification queue and dispatches to `ClosedWaiters`."""

    def __init__(self, bus: Bus, waiters: ClosedWaiters, member_id: str) -> None:
        self._bus = bus
        self._waiters = waiters
        # Per process incarnation (member ids are unique per start), so two frontends never
        # share a queue and a restarted one never inherits a stale one.
        self.queue = f"tidal.frontend.notify.{member_id}"
        self._consumer: Consumer | None = None

    async def start(self) -> None:
        await self._bus.declare_exchange(names.NOTIFY_EXCHANGE, "fanout")
        await self._bus.declare_queue(
            QueueSpec(
                name=self.queue,
                bindings=[(names.NOTIFY_EXCHANGE, "")],
                # Nothing to keep across restarts (waiters re-read the DB), nothing to dead-letter.
                durable=False,
                auto_delete=True,
                dead_letter=False,
            )
        )
        self._consumer = await self._bus.consume(self.queue, self._on_message, prefetch=1000, exclusive=True)

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            with contextlib.suppress(BusError):
                await consumer.cancel()
            with contextlib.suppress(BusError):
                await self._bus.delete_queue(self.queue)

    @property
    def running(self) -> bool:
        return self._consumer is not None

    async def _on_message(self, delivery: Delivery) -> None:
        try:
            msg = decoded_as(delivery, _KINDS) or NOTIFY_MESSAGE.validate_json(delivery.body)
        except ValidationError as exc:
            # Unknown notification kinds (newer history) are not ours to judge: drop them.
            log.debug("ignoring notification: %s", exc.errors()[:1])
        else:
            self._waiters.dispatch(msg)
        await delivery.ack()
