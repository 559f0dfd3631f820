"""One activation on a workflow thread, handed off cheaply.

Workflow code runs on the worker's workflow threads, not on its event loop, so code that blocks
(time.sleep, sync I/O, a busy loop) is caught as a potential deadlock instead of freezing the
loop (in the embedded mode the loop is the whole server). An activation usually takes a fraction
of a millisecond, and the loop could not run Python while it does anyway (the GIL), so the loop
first waits for it synchronously, for at most `HANDOFF_WAIT_SECONDS`, blocked in C with the GIL
released: the thread takes the GIL at once, and its result comes back without a turn of the
loop (no self-pipe write, no `call_soon_threadsafe`, no asyncio future chain). Only an activation
still running after that falls back to awaiting the thread on the loop, under the deadlock
timeout, as before. Code that blocks costs the loop at most that wait once per activation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

from .exceptions import TidalError

__all__ = ["HANDOFF_WAIT_SECONDS", "WorkflowThreadTimeout", "on_workflow_thread"]

T = TypeVar("T")
A = TypeVar("A")

# A few activations' worth (p50 0.2 ms each) plus the thread's wake-up (p50 0.3 ms, more on a
# loaded box), small enough that blocking code holds the loop up only briefly.
HANDOFF_WAIT_SECONDS = 0.002


class WorkflowThreadTimeout(TidalError):
    """The activation did not return within the deadlock timeout; its thread runs on."""


async def on_workflow_thread(
    pool: concurrent.futures.Executor,
    fn: Callable[[A], T],
    arg: A,
    *,
    deadlock_seconds: float | None,
    wait: float = HANDOFF_WAIT_SECONDS,
) -> T:
    """`fn(arg)` on one of `pool`'s threads; raises what `fn` raises, or `WorkflowThreadTimeout`
    once `deadlock_seconds` have passed without an answer (the thread is abandoned)."""
    fut = pool.submit(fn, arg)
    try:
        # exception() returns fn's exception rather than raising it: a TimeoutError here can
        # only mean "not done yet".
        fut.exception(timeout=wait)
    except (TimeoutError, concurrent.futures.CancelledError):
        pass  # still running (or cancelled by a pool shutdown): the loop's path decides
    else:
        return fut.result()
    waiting = asyncio.wrap_future(fut)
    budget = None if deadlock_seconds is None else max(deadlock_seconds - wait, 0.0)
    try:
        # Not asyncio.wait_for (Python 3.11 swallows a cancel that comes in the turn the thread
        # answers); shielded: the thread runs on regardless, the deadlock abandons it.
        async with asyncio.timeout(budget):
            return await asyncio.shield(waiting)
    except TimeoutError:
        if waiting.done():
            return waiting.result()  # answered in the turn the timeout fired, or fn's own error
        raise WorkflowThreadTimeout from None
