"""The workload driver: the same code drives every system (Tidal stack, Tidal embedded, Temporal,
DBOS) through a `System` adapter (bench/peers/), so the figures differ only by the system.

Workloads (each selectable with `--workloads`):
- `burst`: N one-activity workflows, at most C in flight, each timed from start to result;
- `seq`: M one-activity workflows one at a time (p50 start -> result);
- `seq-execute`: the same through the SDK's own `execute_workflow`, timed from the call to the
  result (the call a user makes; on Tidal one request, on Temporal a start then a result poll;
  DBOS has no single call, so its `seq-execute` is its start then its result, as `seq`);
- `seq-eager` (Tidal only): the same with a worker in the bench's process, started without and
  with eager workflow start, interleaved;
- `ten`: a burst of workflows running ten sequential activities;
- `timers`: T workflows that each sleep S seconds, started with at most C start calls in flight
  and all awaited together: fire lateness (fired minus due, from each system's own record of the
  timer), the workflow's clock across the sleep minus S, and end to end minus S.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from common import latency_summary_ms

__all__ = [
    "SHAPES",
    "Shape",
    "System",
    "burst",
    "execute_via",
    "say",
    "sequential",
    "sequential_ab",
    "timers",
    "warm_up",
]

Shape = Literal["one", "ten", "sleep"]
SHAPES: tuple[Shape, ...] = ("one", "ten", "sleep")


class System(Protocol):
    """One system under test. `start` returns a handle once the start is acknowledged durably;
    `result` waits for the workflow's result through that system's own client. A system may also
    have `execute(shape, workflow_id, arg) -> result`, its SDK's own start-and-wait call (used by
    `seq-execute` only; without it that workload is start then result)."""

    async def start(self, shape: Shape, workflow_id: str, arg: Any) -> Any: ...

    async def result(self, handle: Any) -> Any: ...

    async def timer_lateness(self, handle: Any, result: Any, seconds: float) -> float:
        """Seconds from a sleep's due time (when the system armed the timer, plus the sleep) to
        when the system fired it, from the system's own record (its history, where it has one)."""
        ...


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _check(shape: Shape, arg: Any, result: Any) -> None:
    if shape == "sleep":
        if not isinstance(result, int | float):
            raise AssertionError(f"sleep workflow returned {result!r}, not its lateness")
    elif result != f"Hello, {arg}!":
        raise AssertionError(f"unexpected result {result!r}")


async def run_one(system: System, shape: Shape, workflow_id: str, arg: Any) -> tuple[float, float, Any]:
    """(start call seconds, start -> result seconds, result)."""
    t0 = time.perf_counter()
    handle = await system.start(shape, workflow_id, arg)
    t1 = time.perf_counter()
    result = await system.result(handle)
    t2 = time.perf_counter()
    _check(shape, arg, result)
    return t1 - t0, t2 - t0, result


def execute_via(system: System) -> str:
    """How `seq-execute` calls this system: `execute` (its SDK's own call) or `start+result`."""
    return "execute" if callable(getattr(system, "execute", None)) else "start+result"


async def run_execute(system: System, shape: Shape, workflow_id: str, arg: Any) -> float:
    """Seconds from the call to the result through the system's `execute` (or start + result)."""
    execute = getattr(system, "execute", None)
    t0 = time.perf_counter()
    if callable(execute):
        result = await execute(shape, workflow_id, arg)
    else:
        result = await system.result(await system.start(shape, workflow_id, arg))
    elapsed = time.perf_counter() - t0
    _check(shape, arg, result)
    return elapsed


async def warm_up(
    system: System, shapes: tuple[Shape, ...] = ("one",), count: int = 5, *, execute: bool = False
) -> None:
    """Excluded from every figure: connections, caches and code paths warm before timing
    (``execute``: also the `execute` path, which on Tidal is a request of its own)."""
    for shape in shapes:
        for i in range(count):
            arg: Any = 0.05 if shape == "sleep" else f"warm{i}"
            await run_one(system, shape, f"warm-{shape}-{uuid.uuid4().hex}", arg)
    if execute:
        for i in range(count):
            await run_execute(system, "one", f"warm-execute-{uuid.uuid4().hex}", f"warm{i}")


async def _progress(label: str, n: int, counts: dict[str, int]) -> None:
    last, last_t = 0, time.perf_counter()
    while True:
        await asyncio.sleep(2.0)
        now = time.perf_counter()
        done = counts["done"]
        rate = (done - last) / (now - last_t)
        say(f"  {label}: {done}/{n} done, {rate:.0f} wf/s now, {counts['errors']} errors")
        last, last_t = done, now


async def _gather_with_progress(
    label: str, n: int, one: Callable[[int], Awaitable[None]], counts: dict[str, int], timeout: float
) -> float:
    reporter = asyncio.create_task(_progress(label, n, counts))
    begin = time.perf_counter()
    everything = asyncio.gather(*(one(i) for i in range(n)))
    try:
        await asyncio.wait_for(everything, timeout=timeout)
    finally:
        reporter.cancel()
        # Interrupted (Ctrl-C, SIGTERM, timeout): stop the rest, and retrieve the outcome so
        # asyncio does not print "exception was never retrieved" over the report.
        everything.cancel()
        everything.add_done_callback(lambda f: f.cancelled() or f.exception())
    return time.perf_counter() - begin


async def burst(
    system: System, *, shape: Shape = "one", n: int, concurrency: int, label: str, timeout: float
) -> dict[str, Any]:
    """Start ``n`` workflows with at most ``concurrency`` in flight (start + wait for result)."""
    sem = asyncio.Semaphore(concurrency)
    prefix = f"bench-{label.replace('/', '-')}-{shape}-{uuid.uuid4().hex[:6]}"
    total: list[float] = []
    starts: list[float] = []
    errors: list[str] = []
    counts = {"done": 0, "errors": 0}

    async def one(i: int) -> None:
        async with sem:
            try:
                s, t, _ = await run_one(system, shape, f"{prefix}-{i}", f"n{i}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                counts["errors"] += 1
                return
            starts.append(s)
            total.append(t)
            counts["done"] += 1

    elapsed = await _gather_with_progress(f"{label} {shape}", n, one, counts, timeout)
    if errors:
        say(f"  {label}: {len(errors)} workflows failed, first: {errors[0]}")
    return {
        "shape": shape,
        "n": n,
        "concurrency": concurrency,
        "completed": counts["done"],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "workflows_per_s": counts["done"] / elapsed,
        "start_to_result": latency_summary_ms(total),
        "start_call": latency_summary_ms(starts),
        "workflow_id_prefix": prefix,
    }


async def sequential(system: System, *, m: int, label: str, execute: bool = False) -> dict[str, Any]:
    """``m`` one-activity workflows one at a time; latency of start + result, or with
    ``execute`` (`seq-execute`) of the system's own `execute` call, from the call to the result."""
    total: list[float] = []
    starts: list[float] = []
    prefix = f"seq{'x' if execute else ''}-{label.replace('/', '-')}-{uuid.uuid4().hex[:6]}"
    if execute:
        for i in range(m):
            total.append(await run_execute(system, "one", f"{prefix}-{i}", f"s{i}"))
        return {
            "m": m,
            "via": execute_via(system),
            "call_to_result": latency_summary_ms(total),
            "workflow_id_prefix": prefix,
        }
    for i in range(m):
        s, t, _ = await run_one(system, "one", f"{prefix}-{i}", f"s{i}")
        starts.append(s)
        total.append(t)
    return {
        "m": m,
        "start_to_result": latency_summary_ms(total),
        "start_call": latency_summary_ms(starts),
        "workflow_id_prefix": prefix,
    }


async def sequential_ab(a: System, b: System, *, m: int, label: str) -> dict[str, Any]:
    """``m`` one-activity workflows one at a time on each of two systems, interleaved (A, B, A,
    B, ...) so that whatever else loads the box weighs on both alike (`seq-eager`: the same
    co-located worker without and with eager workflow start)."""
    await warm_up(a)
    await warm_up(b)
    prefixes = {k: f"seq-{k}-{label.replace('/', '-')}-{uuid.uuid4().hex[:6]}" for k in ("a", "b")}
    total: dict[str, list[float]] = {"a": [], "b": []}
    starts: dict[str, list[float]] = {"a": [], "b": []}
    for i in range(m):
        for key, system in (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a)):
            s, t, _ = await run_one(system, "one", f"{prefixes[key]}-{i}", f"s{i}")
            starts[key].append(s)
            total[key].append(t)
    return {
        k: {
            "m": m,
            "start_to_result": latency_summary_ms(total[k]),
            "start_call": latency_summary_ms(starts[k]),
            "workflow_id_prefix": prefixes[k],
        }
        for k in ("a", "b")
    }


async def timers(
    system: System, *, n: int, seconds: float, concurrency: int, label: str, timeout: float
) -> dict[str, Any]:
    """``n`` sleeping workflows at once: at most ``concurrency`` start calls in flight, every
    result awaited together (the sleeps overlap, so the timers come due together)."""
    sem = asyncio.Semaphore(concurrency)
    prefix = f"timers-{label.replace('/', '-')}-{uuid.uuid4().hex[:6]}"
    lateness: list[float] = []
    overhead: list[float] = []
    finished: list[tuple[Any, Any]] = []
    errors: list[str] = []
    counts = {"done": 0, "errors": 0}

    async def one(i: int) -> None:
        try:
            t0 = time.perf_counter()
            async with sem:
                handle = await system.start("sleep", f"{prefix}-{i}", seconds)
            result = await system.result(handle)
            t2 = time.perf_counter()
            _check("sleep", seconds, result)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            counts["errors"] += 1
            return
        lateness.append(float(result))
        overhead.append(t2 - t0 - seconds)
        finished.append((handle, result))
        counts["done"] += 1

    elapsed = await _gather_with_progress(f"{label} timers", n, one, counts, timeout)
    # After the timed part: read each timer's record (a history fetch per workflow).
    readers = asyncio.Semaphore(16)

    async def record(handle: Any, result: Any) -> float:
        async with readers:
            return await system.timer_lateness(handle, result, seconds)

    fired = await asyncio.gather(*(record(h, r) for h, r in finished))
    if errors:
        say(f"  {label}: {len(errors)} sleeping workflows failed, first: {errors[0]}")
    return {
        "n": n,
        "sleep_s": seconds,
        "concurrency": concurrency,
        "completed": counts["done"],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "fired_minus_due": latency_summary_ms(fired),
        "workflow_clock_lateness": latency_summary_ms(lateness),
        "end_to_end_minus_sleep": latency_summary_ms(overhead),
        "workflow_id_prefix": prefix,
    }
