"""Deterministic versions of `asyncio.wait` and `asyncio.as_completed` for workflow code.

The asyncio originals put the awaitables in a set before wrapping them in tasks, so coroutines
start (and schedule their activities and timers) in hash order, which differs between processes:
replay on another worker would then disagree with history. These start them in the caller's
order and report results in that order too. Timeouts use the loop's timers, which in a workflow
are durable timers. Re-exported as `tidal.workflow.wait` / `tidal.workflow.as_completed`, like
temporalio's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")

FIRST_COMPLETED = asyncio.FIRST_COMPLETED
FIRST_EXCEPTION = asyncio.FIRST_EXCEPTION
ALL_COMPLETED = asyncio.ALL_COMPLETED


def _seconds(timeout: float | timedelta | None) -> float | None:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else timeout


def _futures(fs: Iterable[Awaitable[T]]) -> list[asyncio.Future[T]]:
    out: list[asyncio.Future[T]] = []
    seen: set[int] = set()
    for f in fs:
        fut = asyncio.ensure_future(f)
        if id(fut) not in seen:  # the same future twice counts once, as in asyncio.wait
            seen.add(id(fut))
            out.append(fut)
    return out


async def wait(
    fs: Iterable[Awaitable[T]],
    *,
    timeout: float | timedelta | None = None,
    return_when: str = ALL_COMPLETED,
) -> tuple[list[asyncio.Future[T]], list[asyncio.Future[T]]]:
    """Like `asyncio.wait`, but returns `(done, pending)` as lists in the order given."""
    futs = _futures(fs)
    if not futs:
        raise ValueError("workflow.wait() needs at least one awaitable")
    done, _ = await asyncio.wait(futs, timeout=_seconds(timeout), return_when=return_when)
    return [f for f in futs if f in done], [f for f in futs if f not in done]


def as_completed(
    fs: Iterable[Awaitable[T]], *, timeout: float | timedelta | None = None
) -> Iterator[Awaitable[T]]:
    """Like `asyncio.as_completed`: yields awaitables that give the results in completion order
    (ties broken by the order given). On timeout the next await raises `asyncio.TimeoutError`."""
    futs = _futures(fs)
    loop = asyncio.get_event_loop()
    finished: asyncio.Queue[asyncio.Future[T] | None] = asyncio.Queue()
    pending = set(futs)
    seconds = _seconds(timeout)
    timer: asyncio.TimerHandle | None = None

    def on_done(f: asyncio.Future[Any]) -> None:
        if f in pending:
            pending.discard(f)
            finished.put_nowait(f)
            if not pending and timer is not None:
                timer.cancel()

    def on_timeout() -> None:
        for f in futs:
            f.remove_done_callback(on_done)
        pending.clear()
        finished.put_nowait(None)

    for f in futs:
        f.add_done_callback(on_done)
    if seconds is not None and futs:
        timer = loop.call_later(seconds, on_timeout)

    async def next_result() -> T:
        f = await finished.get()
        if f is None:
            finished.put_nowait(None)  # every later await times out as well
            raise TimeoutError
        return f.result()

    for _ in range(len(futs)):
        yield next_result()
