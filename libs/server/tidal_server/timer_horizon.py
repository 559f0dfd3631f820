"""What history and the timer service agree on about which timers need a `ScheduleTimer` message.

The `timers` row is the truth (history commits it with the transition); the message only gets a
timer into the timer service's heap sooner than its next read of the table would. The timer
service reads each owned shard's table every `LOAD_INTERVAL` in contiguous slices that end
`LOAD_AHEAD` after its clock, so a row committed before a slice was read and due within it is
seen before it is due. A row committed after that read and due before the slice's end would be
behind the service's horizon and never read again: only a message can bring it in. So history
sends the message for exactly those timers that could fall there: due before `now +
MESSAGE_HORIZON` on its own clock. The margin between the two (`SKEW_MARGIN`) covers what history's
`now` can trail the row's commit (the batch's apply and commit) plus the clocks of two hosts
disagreeing; beyond it, the timer service's sweep of overdue rows fires the timer late, never
loses it (docs/reliability.md, "Timers").

Constants rather than settings: the two services must agree, and one configured differently
from the other would lose timers silently until the sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["LOAD_AHEAD", "LOAD_INTERVAL", "MESSAGE_HORIZON", "SKEW_MARGIN", "needs_message"]

LOAD_AHEAD = timedelta(seconds=2)
"""The timer service's reads of the table end this far after its clock (its heap's look-ahead)."""

LOAD_INTERVAL = timedelta(seconds=1)
"""How often the timer service reads the next slice (at most; less than `LOAD_AHEAD`, so a row
is in the heap at least `LOAD_AHEAD - LOAD_INTERVAL` before it is due, when reads keep up)."""

SKEW_MARGIN = timedelta(seconds=5)
"""History's batch time to commit, plus clock skew between history's and the timer's hosts."""

MESSAGE_HORIZON = LOAD_AHEAD + SKEW_MARGIN
"""History sends a `ScheduleTimer` only for a timer due before its `now` plus this."""


def needs_message(fire_at: datetime, now: datetime) -> bool:
    """A timer set at `now` (history's clock) due at `fire_at` must be sent to the timer service;
    a later one is left to the service's read of the table."""
    return fire_at < now + MESSAGE_HORIZON
