"""Per-namespace token buckets for workflow starts (off unless `start_rate_limit_per_second`
is set). Each frontend process limits on its own: with N frontends the cluster admits up to N
times the rate, which is what a cheap, coordination-free edge limit can promise."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .problems import Problem


@dataclass
class _Bucket:
    tokens: float
    updated: float


class StartRateLimiter:
    def __init__(
        self, *, rate_per_second: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self._now = monotonic
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, namespace: str) -> float:
        """Take a token: 0.0 when admitted, else the seconds until one is available."""
        now = self._now()
        bucket = self._buckets.get(namespace)
        if bucket is None:
            bucket = self._buckets[namespace] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def check(self, namespace: str) -> None:
        wait = self.acquire(namespace)
        if wait > 0:
            problem = Problem(
                "rate_limited",
                f"too many workflow starts in namespace {namespace!r} (limit {self.rate:g}/s, burst "
                f"{self.burst}); retry after {wait:.2f}s",
                retry_after_seconds=round(wait, 3),
            )
            problem.headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            raise problem
