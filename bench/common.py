"""Helpers shared by the benchmark modules (which run as scripts with bench/ on sys.path)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `tests.support` imports from a plain `python bench/x.py`
    sys.path.insert(0, str(ROOT))


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (the services run on uvloop too)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); NaN for an empty sample."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max/mean in milliseconds from latencies in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def interleaved_rounds(
    url: str,
    paths: Mapping[str, Any],
    run_case: Callable[[str, Any, int], Awaitable[float]],
    *,
    n: int,
    rounds: int,
    heading: str,
) -> None:
    """The A/B driver of the client-cost benches: one warm-up of each path, then `rounds` rounds
    of every path in turn (interleaved, so the box's load falls on each alike), uptime around it,
    and one row of figures per path."""
    print(uptime())
    for path in paths.values():
        await run_case(url, path, 1000)  # warm-up
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, path in paths.items():
            results.setdefault(name, []).append(await run_case(url, path, n))
    print(uptime())
    print(heading)
    for name, values in results.items():
        print(f"  {name:10} " + "  ".join(f"{v:6.1f}" for v in values))
