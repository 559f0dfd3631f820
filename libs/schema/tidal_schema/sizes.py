"""Sizes of what travels and is stored: payloads, events, and how much history one task may carry
(the budgets are in `limits`). Kept apart from `limits` because it needs the event models, which
themselves use the limits' field types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic_core import to_json

from .common import Payload
from .events import HistoryEvent
from .limits import TASK_HISTORY_MAX_BYTES

__all__ = ["event_size", "newest_events", "payloads_size", "task_history_budget"]


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
