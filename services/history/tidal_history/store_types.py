"""What history's store reads and writes, shared by both batch writers (batch_pg.py for Postgres,
batch_sql.py for SQLite): the per-run write of a batch, the loaded run, the outbox row, and the
column values every writer derives the same way (the store's errors are store_errors.py's,
re-exported)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from tidal_schema import HistoryEvent
from tidal_schema.messages import ScheduleTimer

from .mutation import Outgoing
from .state import MutableState
from .store_errors import ShardLostError, StoreError, VersionConflictError

__all__ = [
    "LoadedRun",
    "PendingOutbox",
    "RunWrite",
    "ShardLostError",
    "StoreError",
    "VersionConflictError",
    "event_rows",
    "state_columns",
]


@dataclass(kw_only=True)
class RunWrite:
    """Everything one batch changes for one run."""

    state: MutableState
    old_version: int | None  # None: a new run
    events: list[HistoryEvent] = field(default_factory=list)
    # The net effect of the batch on each timer row, by key: the last ScheduleTimer set, or
    # None for a delete. A timer set by one message and deleted by a later one in the same
    # batch leaves no row (it would be fired stale after every takeover).
    timers: dict[str, ScheduleTimer | None] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)
    # An existing run's memo column is rewritten with `memo` (workflow.upsert_memo).
    memo_changed: bool = False
    search_attributes: dict[str, Any] = field(default_factory=dict)
    # Retention expired: delete the run instead (api/retention.py).
    purge: bool = False
    # Filled in by the commit: JSON characters of the state document and of the new events
    # (the cache charges runs by them).
    state_chars: int = 0
    events_chars: int = 0
    # The JSON of `events`, when they came in through `add_events` (serialized once, for the
    # history size limit, the stored row and the cache's charge alike).
    event_json: list[str] = field(default_factory=list)

    @property
    def new_version(self) -> int:
        return (self.old_version or 0) + 1

    def add_events(self, events: Sequence[HistoryEvent]) -> int:
        """Append new events; returns their size (JSON characters, `limits.event_size`)."""
        if len(self.event_json) != len(self.events):  # events appended without their JSON
            self.event_json = [e.model_dump_json() for e in self.events]
        added = [e.model_dump_json() for e in events]
        self.events.extend(events)
        self.event_json.extend(added)
        return sum(map(len, added))

    def record_timers(self, timers_set: Sequence[ScheduleTimer], timers_deleted: Sequence[str]) -> None:
        """One message's timer changes, after the earlier ones of the batch. Within one message
        a key is never set after being deleted unless it is re-set (Mutation.delete_timer drops
        an earlier set of the key), so its deletes go first."""
        for key in timers_deleted:
            self.timers[key] = None
        for timer in timers_set:
            self.timers[timer.key] = timer


@dataclass(frozen=True, kw_only=True)
class LoadedRun:
    state: MutableState
    version: int
    events: list[HistoryEvent]
    state_chars: int = 0
    events_chars: int = 0


@dataclass(frozen=True, kw_only=True)
class PendingOutbox:
    seq: int
    exchange: str
    routing_key: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)
    decoded: object | None = field(default=None, compare=False, repr=False)
    """The model `body` encodes, when this process built it (not for rows read back from the
    table): handed to in-process consumers (tidal_server.bus.handover)."""


def state_columns(w: RunWrite) -> tuple[str, str]:
    """The run's state document and its `result` column, as JSON text (stored as is: its length
    is the run's size for the cache, recorded in `w.state_chars`). `result` is JSON null while
    the run has neither a result nor a failure."""
    st = w.state
    doc = st.model_dump_json()
    w.state_chars = len(doc)
    result: Any = None
    if st.result is not None:
        result = {"result": [p.model_dump(mode="json") for p in st.result]}
    elif st.failure is not None:
        result = {"failure": st.failure.model_dump(mode="json")}
    return doc, to_json(result).decode()


EventRow = tuple[str, str, str, int, str, datetime, str]


def event_rows(writes: Sequence[RunWrite]) -> Iterator[EventRow]:
    """(namespace, workflow_id, run_id, event_id, event_type, event_time, JSON) of every new event;
    records each write's `events_chars`."""
    for w in writes:
        st, chars = w.state, 0
        jsons = (
            w.event_json if len(w.event_json) == len(w.events) else [e.model_dump_json() for e in w.events]
        )
        for e, data in zip(w.events, jsons, strict=True):
            chars += len(data)
            yield st.namespace, st.workflow_id, st.run_id, e.event_id, e.event_type, e.event_time, data
        w.events_chars = chars
