"""Pure rate-limit state for task queues' activity dispatch (no I/O, no clock of its own: every
call is given `now`, in seconds). `TokenBucket` paces one task queue; `DeclaredRates` keeps what
workers declared (the last declaration wins, as in Temporal; a rate not declared again within the
time to live lapses). docs/task-queue-rates.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = [
    "MAX_KEPT_IDENTITY",
    "MAX_RELEASE_PREFETCH",
    "DeclaredRate",
    "DeclaredRates",
    "TaskQueueKey",
    "TokenBucket",
    "release_prefetch",
]

TaskQueueKey = tuple[str, str]
"""(namespace, task queue)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenBucket:
    """`rate` tokens a second up to `burst`; a task is dispatched for each token. The burst is
    Temporal's: ceil(rate), at least 1, so a rate of 2 starts 2 tasks at once, then one every
    0.5 s."""

    rate: float
    burst: float
    tokens: float
    at: float
    """The time `tokens` was counted at."""

    @classmethod
    def full(cls, *, rate: float, now: float) -> TokenBucket:
        burst = _burst(rate)
        return cls(rate=rate, burst=burst, tokens=burst, at=now)

    def refilled(self, now: float) -> TokenBucket:
        if now <= self.at:
            return self  # a clock that went back refills nothing (and takes nothing back)
        return replace(self, tokens=min(self.burst, self.tokens + (now - self.at) * self.rate), at=now)

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        tokens = self.refilled(now).tokens
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, now: float) -> TokenBucket:
        """The bucket after one dispatch at `now`; callers take only when `wait(now)` is 0."""
        bucket = self.refilled(now)
        return replace(bucket, tokens=max(0.0, bucket.tokens - 1.0))

    def with_rate(self, rate: float, now: float) -> TokenBucket:
        """The new rate from now on, keeping what was saved up (at most the new burst)."""
        bucket = self.refilled(now)
        burst = _burst(rate)
        return replace(bucket, rate=rate, burst=burst, tokens=min(burst, bucket.tokens))


def _burst(rate: float) -> float:
    return float(max(1, math.ceil(rate)))


MAX_RELEASE_PREFETCH = 32
MAX_KEPT_IDENTITY = 200


def release_prefetch(rate: float | None) -> int:
    """How many held tasks a task queue's release consumer has in hand. One waits for the token;
    the others' publish and ack overlap it, so a high rate is not capped by one broker round trip
    (and event-loop turn, ~10-25 ms on a loaded box) per task. Few, because tasks in hand are
    unacked and the broker's backlog figure (describe task queue) does not count them: one per
    10/s of rate, at least 1, at most MAX_RELEASE_PREFETCH (also for no rate: draining)."""
    if rate is None:
        return MAX_RELEASE_PREFETCH
    return max(1, min(MAX_RELEASE_PREFETCH, math.ceil(rate / 10)))


@dataclass(frozen=True, kw_only=True, slots=True)
class DeclaredRate:
    per_second: float
    declared_at: float
    identity: str


class DeclaredRates:
    """The declared rate of every task queue a process heard of, with the declarations' time to
    live. Bounded: past `max_task_queues` limited queues a new one is refused (returns False)."""

    def __init__(self, *, ttl: float, max_task_queues: int) -> None:
        self._ttl = ttl
        self._max = max_task_queues
        self._rates: dict[TaskQueueKey, DeclaredRate] = {}

    def declare(self, key: TaskQueueKey, per_second: float | None, identity: str, now: float) -> bool:
        """Record a declaration; None changes nothing (that worker sets no limit). False: refused,
        too many limited task queues."""
        if per_second is None:
            return True
        if key not in self._rates and len(self._rates) >= self._max:
            self._forget_lapsed(now)
            if len(self._rates) >= self._max:
                return False
        # A prefix: an identity may be any Text (10,000 characters), and up to max_task_queues
        # of them are kept.
        kept = identity[:MAX_KEPT_IDENTITY]
        self._rates[key] = DeclaredRate(per_second=per_second, declared_at=now, identity=kept)
        return True

    def __bool__(self) -> bool:
        return bool(self._rates)

    def rate(self, key: TaskQueueKey, now: float) -> float | None:
        """The task queue's rate now; None: no limit (never declared, or lapsed)."""
        declared = self._rates.get(key)
        if declared is None or now - declared.declared_at > self._ttl:
            return None
        return declared.per_second

    def lapses_in(self, key: TaskQueueKey, now: float) -> float:
        """Seconds until the task queue's rate lapses unless declared again (0: no rate now)."""
        declared = self._rates.get(key)
        if declared is None:
            return 0.0
        return max(0.0, declared.declared_at + self._ttl - now)

    def stale(self, now: float) -> list[TaskQueueKey]:
        """Task queues whose rate lapsed a whole time to live ago: what they held has gone on
        unlimited since, so nothing of them need be kept (`forget_if_stale`)."""
        return [k for k, d in self._rates.items() if now - d.declared_at > 2 * self._ttl]

    def forget_if_stale(self, key: TaskQueueKey, now: float) -> bool:
        """Forget a stale task queue's rate; False: declared again meanwhile (kept)."""
        declared = self._rates.get(key)
        if declared is not None and now - declared.declared_at <= 2 * self._ttl:
            return False
        self._rates.pop(key, None)
        return True

    def keys(self) -> list[TaskQueueKey]:
        """Every task queue with a declared rate, lapsed or not (until forgotten)."""
        return list(self._rates)

    def _forget_lapsed(self, now: float) -> None:
        for key in [k for k, d in self._rates.items() if now - d.declared_at > self._ttl]:
            del self._rates[key]
