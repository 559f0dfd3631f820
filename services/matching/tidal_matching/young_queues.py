"""Workflow tasks published into worker queues too young to be durable on the broker, kept to be
published again if the connection is lost before the queue is old enough.

A single RabbitMQ 3.10 node can lose a durable queue declared up to ~2 s before it is killed,
with the messages confirmed into it (Mnesia's commit decision for the declaration is still in a
write cache: docs/reliability.md, "Matching's first declare of a task queue"). The broker's
clients re-declare it on reconnect, empty. Workflow tasks are safe to publish twice (a stale
completion changes nothing; the sticky worker skips a task it already applied), so matching
keeps what it published into a queue during its first `window` seconds and publishes it again
after a reconnect. Activity tasks are not kept: a second copy could run an attempt twice.

No I/O: the caller publishes what `restored()` returns. Times are the caller's monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_REPUBLISHES", "Kept", "YoungQueues"]

MAX_REPUBLISHES = 3
"""Reconnects after which a queue's kept tasks are published again, at most. Each one makes the
queue young again (its re-declaration may be new), so a broker whose connection flaps every
second would otherwise have every kept task published again on every reconnect for as long as
the flapping lasts (60 copies of each in a minute, each a workflow task a worker replays). A
queue lost more often than this within its window leaves its tasks to the workflow task timeout,
as before matching kept any."""


@dataclass(frozen=True, slots=True)
class Kept:
    queue: str
    body: bytes
    priority: int


@dataclass(slots=True)
class _Queue:
    declared_at: float
    kept: list[Kept] = field(default_factory=list)
    republished: int = 0


class YoungQueues:
    def __init__(self, *, window: float, max_bytes: int) -> None:
        """`window`: seconds after its first declaration in this process a queue's tasks are
        kept (0: none are); `max_bytes`: bodies kept at most, over all queues (a burst into a new
        task queue must not hold the process's memory: tasks beyond it are not kept, `dropped`)."""
        self._window = window
        self._max_bytes = max_bytes
        self._queues: dict[str, _Queue] = {}
        self._bytes = 0
        self._lost_at: float | None = None
        self.dropped = 0

    def declared(self, queue: str, now: float) -> None:
        """The queue was declared by this process for the first time (it may be older: a worker
        or another matching process may have declared it first, which only keeps more)."""
        if self._window > 0 and queue not in self._queues:
            self._queues[queue] = _Queue(declared_at=now)

    def published(self, queue: str, body: bytes, priority: int, now: float) -> None:
        """A workflow task the broker confirmed into `queue`."""
        young = self._queues.get(queue)
        if young is None or now - young.declared_at >= self._window:
            return
        if self._bytes + len(body) > self._max_bytes:
            self.dropped += 1
            return
        young.kept.append(Kept(queue, body, priority))
        self._bytes += len(body)

    def lost(self, now: float) -> None:
        """The broker connection went: keep everything until it is restored (the first loss
        counts: queues young at that moment are the ones the broker may have lost)."""
        if self._lost_at is None:
            self._lost_at = now

    def restored(self) -> list[Kept]:
        """The connection is back: the tasks of queues that were young when it was first lost,
        to publish again. Kept until `published_again`: if the republishing fails (lost again),
        the next `restored` returns them all again (a workflow task twice is harmless)."""
        lost_at = self._lost_at
        if lost_at is None:
            return []
        return [
            kept
            for young in self._queues.values()
            if lost_at - young.declared_at < self._window
            for kept in young.kept
        ]

    def published_again(self, now: float) -> None:
        """What `restored` returned is on the broker again. Those queues may have been declared
        anew by the reconnect (the lost ones were), so they are young again from now, with the
        tasks published again kept; the others are forgotten once old enough."""
        lost_at = self._lost_at
        self._lost_at = None
        if lost_at is None:
            return
        for name, young in list(self._queues.items()):
            if lost_at - young.declared_at < self._window:
                young.republished += 1
                if young.republished >= MAX_REPUBLISHES:
                    self._forget(name)
                else:
                    young.declared_at = now
        self._forget_older(now)

    def tick(self, now: float) -> None:
        """Forget the queues past their window (while connected), so a burst's bodies do not
        stay until the next publish into a young queue."""
        if self._lost_at is None:
            self._forget_older(now)

    def _forget_older(self, now: float) -> None:
        # Safe only while connected: a queue past its window at a moment the connection is up
        # was durable before any later loss.
        for name in [n for n, q in self._queues.items() if now - q.declared_at >= self._window]:
            self._forget(name)

    def _forget(self, name: str) -> None:
        young = self._queues.pop(name)
        self._bytes -= sum(len(k.body) for k in young.kept)

    @property
    def kept_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return sum(len(q.kept) for q in self._queues.values())
