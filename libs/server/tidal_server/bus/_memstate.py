"""In-memory broker state: exchanges with cached routes, AMQP topic matching, ready queues."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._api import ExchangeKind, OutMessage, QueueSpec

if TYPE_CHECKING:
    from .memory import _MemConsumer

_ROUTE_CACHE_LIMIT = 10_000  # routing keys can be per-entity; don't let the cache grow forever
Entry = tuple[OutMessage, bool]  # (message, redelivered)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: words split on '.', '*' is exactly one word, '#' zero or more."""
    return _match(pattern.split("."), 0, key.split("."), 0)


def _match(p: list[str], i: int, k: list[str], j: int) -> bool:
    while i < len(p):
        word = p[i]
        if word == "#":
            if i == len(p) - 1:
                return True
            return any(_match(p, i + 1, k, jj) for jj in range(j, len(k) + 1))
        if j >= len(k) or (word != "*" and word != k[j]):
            return False
        i += 1
        j += 1
    return j == len(k)


class Exchange:
    __slots__ = ("bindings", "cache", "kind", "name")

    def __init__(self, name: str, kind: ExchangeKind) -> None:
        self.name = name
        self.kind = kind
        self.bindings: dict[tuple[str, str], None] = {}  # (queue, key), ordered set
        self.cache: dict[str, tuple[str, ...]] = {}

    def route(self, key: str) -> tuple[str, ...]:
        hit = self.cache.get(key)
        if hit is None:
            if self.kind == "fanout":
                names = (q for q, _ in self.bindings)
            elif self.kind == "direct":
                names = (q for q, k in self.bindings if k == key)
            else:
                names = (q for q, k in self.bindings if topic_matches(k, key))
            hit = tuple(dict.fromkeys(names))  # a queue gets one copy even if bound twice
            if len(self.cache) >= _ROUTE_CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = hit
        return hit


class MemQueue:
    __slots__ = ("consumers", "deleted", "exclusive", "levels", "pending", "ready", "rr", "spec")

    def __init__(self, spec: QueueSpec) -> None:
        self.spec = spec
        self.ready: deque[Entry] = deque()
        # Priority queues keep one deque per level (RabbitMQ clamps priorities to max_priority).
        self.levels: list[deque[Entry]] | None = (
            [deque() for _ in range(spec.max_priority + 1)] if spec.max_priority else None
        )
        self.consumers: list[_MemConsumer] = []
        self.exclusive = False
        self.rr = 0
        self.pending = False  # a dispatch is already scheduled
        self.deleted = False

    def push(self, entry: Entry, front: bool = False) -> None:
        dq = self.ready
        if self.levels is not None:
            prio = entry[0].priority or 0
            dq = self.levels[max(0, min(prio, len(self.levels) - 1))]
        if front:
            dq.appendleft(entry)
        else:
            dq.append(entry)

    def pop(self) -> Entry | None:
        if self.levels is None:
            return self.ready.popleft() if self.ready else None
        for dq in reversed(self.levels):
            if dq:
                return dq.popleft()
        return None

    def depth(self) -> int:
        if self.levels is None:
            return len(self.ready)
        return sum(len(dq) for dq in self.levels)
