"""Publishing an activity attempt's outcome, again if the first publish fails.

The attempt has run by then: giving its task back to the broker (nack, requeue) would run it
again, repeating its side effects for what is usually a moment of broker trouble (the chaos suite
saw attempts run three times within 140 ms). Temporal's workers likewise retry
RespondActivityTaskCompleted rather than re-running the activity. Past the budget the caller gives
the task back as before: at least once still holds, and history's start-to-close timeout covers
an outcome that never arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

__all__ = ["REPORT_RETRY_SECONDS", "report_with_retry"]

log = logging.getLogger("tidal.worker")

# At most this long, and never past the attempt's start-to-close timeout (history retries the
# attempt by then anyway).
REPORT_RETRY_SECONDS = 30.0
_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0


async def report_with_retry(
    publish: Callable[[], Awaitable[None]],
    *,
    start_to_close: timedelta | None,
    what: str,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Await `publish()` until it succeeds; re-raise its error once the budget is spent."""
    budget = REPORT_RETRY_SECONDS
    if start_to_close is not None:
        budget = min(budget, start_to_close.total_seconds())
    deadline = clock() + budget
    delay = _FIRST_DELAY
    while True:
        try:
            await publish()
            return
        except Exception as exc:
            if clock() + delay > deadline:
                raise
            log.warning("could not report %s (%s); trying again in %.2f s", what, exc, delay)
        await asyncio.sleep(delay)  # backoff between publishes, not synchronisation
        delay = min(delay * 2, _MAX_DELAY)
