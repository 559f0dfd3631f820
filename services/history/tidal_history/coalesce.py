"""One bus message per timer shard per publish: the ScheduleTimers of one batch's outbox rows for
the same timer shard go out as one `ScheduleTimers` message instead of one message each.

Done when publishing, not when committing: the outbox keeps one row per timer (what the relay
and the oversize guard work on), and a relay after a crash coalesces the same way. The merged
body is built from the rows' bodies without parsing them; it is bounded by `max_bytes` and
`max_timers`, beyond which another message starts. A merged message carries the first row's
headers (its trace context).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidal_schema import names
from tidal_server.bus import OutMessage

__all__ = ["MAX_TIMERS", "timer_messages"]

MAX_TIMERS = 512
"""Timers per merged message (the timer service's prefetch counts messages, not timers)."""

_SCHEDULE = b'"type":"ScheduleTimer"'
_OPEN = b'{"type":"ScheduleTimers","timers":['


def is_schedule_timer(exchange: str, body: bytes) -> bool:
    # The discriminator comes within the first fields of the dump (schema_version, type).
    return exchange == names.TIMER_EXCHANGE and _SCHEDULE in body[:64]


def timer_messages(
    rows: Sequence[tuple[str, bytes, dict[str, Any]]], *, max_bytes: int, max_timers: int = MAX_TIMERS
) -> list[OutMessage]:
    """(routing key, ScheduleTimer body, headers) rows for the timer exchange -> messages, one
    per routing key (timer shard) where the bounds allow."""
    by_key: dict[str, list[tuple[bytes, dict[str, Any]]]] = {}
    for key, body, row_headers in rows:
        by_key.setdefault(key, []).append((body, row_headers))
    out: list[OutMessage] = []
    for key, group in by_key.items():
        chunk: list[bytes] = []
        headers: dict[str, Any] = {}
        size = len(_OPEN) + 2
        for body, h in group:
            if chunk and (len(chunk) >= max_timers or size + len(body) + 1 > max_bytes):
                out.append(_merged(key, chunk, headers))
                chunk, size = [], len(_OPEN) + 2
            if not chunk:
                headers = h
            chunk.append(body)
            size += len(body) + 1
        if chunk:
            out.append(_merged(key, chunk, headers))
    return out


def _merged(key: str, bodies: list[bytes], headers: dict[str, Any]) -> OutMessage:
    body = bodies[0] if len(bodies) == 1 else _OPEN + b",".join(bodies) + b"]}"
    return OutMessage(exchange=names.TIMER_EXCHANGE, routing_key=key, body=body, headers=headers)
