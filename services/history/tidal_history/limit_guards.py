"""Where the shard processor acts on limits.py's verdicts: it logs and counts history limit
warnings, and keeps an outbox row the bus would refuse from wedging the shard."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from tidal_server.bus import DLX_EXCHANGE, Bus, OutMessage
from tidal_server.bus._api import dead_letter_headers

from . import metrics
from .limits import HistoryLimits, history_verdict
from .state import MutableState
from .store import PendingOutbox

__all__ = ["HistoryLimitGuard", "split_oversized"]

log = logging.getLogger("tidal.history.limits")

# How much of a refused message the dead-letter notice keeps, for an operator to recognise it.
_HEAD_BYTES = 2048


class HistoryLimitGuard:
    def __init__(self, limits: HistoryLimits, *, shard_id: int) -> None:
        self._limits = limits
        self._shard_id = shard_id

    def check(self, state: MutableState, *, count_before: int, size_before: int) -> str | None:
        """After a transition: warn once per level crossed; the termination reason when the run
        reached a limit (None: nothing to do)."""
        if not state.is_running:
            return None
        count = state.next_event_id - 1
        verdict = history_verdict(
            self._limits,
            count_before=count_before,
            size_before=size_before,
            count=count,
            size=state.history_size_bytes,
        )
        extra = {
            "shard": self._shard_id,
            "namespace": state.namespace,
            "workflow_id": state.workflow_id,
            "run_id": state.run_id,
        }
        for name in verdict.warnings:
            metrics.LIMIT_WARNINGS.labels(name).inc()
            log.warning(
                "history of %s passed the %s warning level (%d events, %d bytes)",
                state.workflow_id,
                name,
                count,
                state.history_size_bytes,
                extra=extra,
            )
        if verdict.terminate is not None:
            metrics.LIMIT_TERMINATIONS.labels("count" if "count" in verdict.terminate else "size").inc()
            log.warning("terminating %s: %s", state.workflow_id, verdict.terminate, extra=extra)
        return verdict.terminate


async def split_oversized(
    items: Sequence[PendingOutbox], bus: Bus, limit: int, shard_id: int
) -> list[PendingOutbox]:
    """The rows that fit the bus. Each one that does not is dead-lettered with its reason (a
    notice with the row's head, since the row itself cannot be published either) and counts as
    published, so its deletion lets the shard go on."""
    fits = [p for p in items if len(p.body) <= limit]
    if len(fits) == len(items):
        return fits
    notices = []
    for p in items:
        if len(p.body) <= limit:
            continue
        reason = f"too_large: {len(p.body)} bytes to {p.exchange}/{p.routing_key}, bus limit {limit}"
        log.error("outbox row %d of shard %d not published: %s", p.seq, shard_id, reason)
        metrics.OUTBOX_DEAD_LETTERED.labels("too_large").inc()
        notice = {
            "reason": reason,
            "shard_id": shard_id,
            "seq": p.seq,
            "bytes": len(p.body),
            "head": p.body[:_HEAD_BYTES].decode("utf-8", "replace"),
        }
        notices.append(
            OutMessage(
                exchange=DLX_EXCHANGE,
                routing_key=p.routing_key,
                body=json.dumps(notice).encode(),
                headers=dead_letter_headers(
                    {k: v for k, v in p.headers.items() if isinstance(v, str)},
                    reason,
                    "",
                    p.exchange,
                    p.routing_key,
                ),
            )
        )
    await bus.publish_many(notices)
    return fits
