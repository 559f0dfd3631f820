"""Deadline-bounded polling for tests: wait until a condition that no event announces comes true,
failing with what was awaited (never a bare sleep as synchronisation). The one helper:
`tests.support.stack.wait_for` is this with the stack tests' defaults."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["until"]


async def until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    what: str = "the condition",
    deadline: float = 10.0,
    interval: float = 0.001,
) -> None:
    """Return once `predicate()` (or what it returns, awaited) is true; raise TimeoutError naming
    `what` if it is not within `deadline` seconds. `interval` is the pause between checks."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > end:
            raise TimeoutError(f"timed out after {deadline}s waiting for {what}")
        await asyncio.sleep(interval)
