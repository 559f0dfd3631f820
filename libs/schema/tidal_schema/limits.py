"""Size and length limits every process agrees on (Temporal's defaults where it has one).

The one place these numbers are spelled: the frontend validates client requests against them,
history enforces them on what workers send and on a run's history, the SDK checks what it is
about to publish. Services expose each as a setting whose default comes from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic_core import to_json

from .common import Payload
from .events import HistoryEvent

__all__ = [
    "HISTORY_COUNT_ERROR",
    "HISTORY_COUNT_WARN",
    "HISTORY_SIZE_ERROR",
    "HISTORY_SIZE_WARN",
    "MESSAGE_MAX_BYTES",
    "PAYLOAD_MAX_BYTES",
    "TASK_HISTORY_MAX_BYTES",
    "TASK_HISTORY_MAX_EVENTS",
    "event_size",
    "newest_events",
    "payloads_size",
    "task_history_budget",
]

PAYLOAD_MAX_BYTES = 2 * 1024 * 1024
"""Payloads of one request, command or completion result (Temporal's blob size limit)."""

HISTORY_COUNT_WARN = 10_240
HISTORY_COUNT_ERROR = 51_200
"""Events in one run: a warning past the first, the run terminated at the second."""

HISTORY_SIZE_WARN = 10 * 1024 * 1024
HISTORY_SIZE_ERROR = 50 * 1024 * 1024
"""Bytes of one run's serialized events: warning, then termination."""

MESSAGE_MAX_BYTES = 16 * 1024 * 1024
"""Largest body any Tidal process publishes on the bus: well below RabbitMQ's own
`max_message_size` (128 MiB in 3.10), which closes the channel of a publisher exceeding it."""

TASK_HISTORY_MAX_EVENTS = 1000
TASK_HISTORY_MAX_BYTES = 4 * 1024 * 1024
"""How much history one workflow task carries at most; a worker pages the older events."""


def payloads_size(payloads: Iterable[Payload]) -> int:
    """Bytes of payloads as they travel (metadata and data, JSON-encoded)."""
    return sum(len(to_json(p.data)) + sum(len(k) + len(v) for k, v in p.metadata.items()) for p in payloads)


def event_size(event: HistoryEvent) -> int:
    """Bytes of one event as stored and sent (its JSON)."""
    return len(event.model_dump_json())


def task_history_budget(max_message_bytes: int, max_bytes: int = TASK_HISTORY_MAX_BYTES) -> int:
    """Bytes of events one task may carry: never more than a quarter of a message (the rest is
    the task's own fields and, for workflow tasks, pending updates)."""
    return min(max_bytes, max_message_bytes // 4)


def newest_events(events: Sequence[HistoryEvent], *, max_events: int, max_bytes: int, start: int = 0) -> int:
    """Index of the first of the newest events (from `start` on) that fit both budgets; the last
    event always fits. A task carries `events[index:]` with `first_event_id` set to that event's
    id, and its receiver pages the older ones (workflow and query tasks alike)."""
    count, size, first = 0, 0, len(events)
    while first > start:
        s = event_size(events[first - 1])
        if count and (count + 1 > max_events or size + s > max_bytes):
            break
        count, size, first = count + 1, size + s, first - 1
    return first
