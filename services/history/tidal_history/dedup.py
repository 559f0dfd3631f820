"""Request ids of the at-least-once inputs applied to a run (signals, cancel requests, updates),
kept in its mutable state so a duplicate is answered, never applied twice.

How long a duplicate can arrive: a batch redelivered after a failed commit or publish holds up to
the shard's prefetch (512 messages by default, all possibly for one run) and comes back within
seconds; a client or the frontend retries with the same id within its request deadline; an
outbox relayed after a crash comes minutes (at worst hours) later. The ids are kept for at least
`MAX_AGE` (7 days) unless a run takes more than `MAX_IDS` (2,048) inputs within that time, in
which case the oldest go first (at least 1,792 are always kept, over three times a full
redelivered prefetch). A closed run keeps its ids until retention purges it, so a retry after
the close gets the original answer; a continue-as-new or retry successor inherits them (naming
the run each was applied to), since a duplicate addressed by workflow id reaches the current run.

The ids are kept in buckets of up to `BUCKET_SIZE` ids collected within a day, oldest first,
each with the time of its first and newest id: the state document is written on every commit of
the run, and a few lists of strings serialise ten times faster than one entry per id. Pruning
drops whole buckets, so an id is forgotten between MAX_AGE and MAX_AGE + 1 day after it came.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tidal_schema.run_document import BUCKET_SIZE, MAX_BUCKETS, RequestIds

if TYPE_CHECKING:
    from .state import MutableState

__all__ = [
    "CANCEL",
    "MAX_AGE",
    "MAX_IDS",
    "SIGNAL",
    "UPDATE",
    "RequestIds",
    "applied_to",
    "inherit",
    "remember",
]

MAX_IDS = BUCKET_SIZE * MAX_BUCKETS  # at least MAX_IDS - BUCKET_SIZE are always kept
MAX_AGE = timedelta(days=7)

SIGNAL, CANCEL, UPDATE = "s", "c", "u"


def applied_to(state: MutableState, kind: str, request_id: str) -> str | None:
    """The run the request was applied to (this one, or one this run continued), or None."""
    run_id = state.request_ids.find(f"{kind}:{request_id}")
    if run_id is None:
        return None
    return run_id or state.run_id


def remember(state: MutableState, kind: str, request_id: str, *, now: datetime, run_id: str = "") -> None:
    at = int(now.timestamp())
    state.request_ids.add(f"{kind}:{request_id}", at=at, run_id=run_id)
    state.request_ids.prune(horizon=at - int(MAX_AGE.total_seconds()))


def inherit(old: MutableState, new: MutableState, *, now: datetime) -> None:
    """A successor run (continue-as-new, workflow retry) answers the predecessor's duplicates,
    naming the run they were applied to; its updates' ids too (their outcomes stay in that run)."""
    new.request_ids.inherit(old.request_ids, run_id=old.run_id)
    for update_id in old.updates:
        remember(new, UPDATE, update_id, now=now, run_id=old.run_id)
    new.request_ids.prune(horizon=int((now - MAX_AGE).timestamp()))
