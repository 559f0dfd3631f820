"""Tasks history hands straight to a worker's own queue, skipping matching.

Two kinds: a workflow task for a run whose last task a worker completed (its sticky queue), and an
eager activity (ScheduleActivityTask.request_eager_execution, Temporal's eager activity execution)
for the worker that scheduled it. Either is an outbox row like any other (committed with the
transition, published after the commit, relayed after a crash), only addressed to the worker's
queue through the default exchange, published mandatory, and marked with `FALLBACK_HEADER`. A
worker's queue lives and dies with its connection, so when the publish comes back unroutable the
worker is gone and the same task goes to matching instead, which hands it to the task queue's
shared queue: what matching did itself before, one hop later.

What this keeps: a task is never dropped for a missing queue (unroutable -> matching, in the same
publish step, before the outbox row counts as published; a crash in between relays the row and
tries again). A task that reaches a worker which then dies is lost with its exclusive queue, as a
sticky task was before: the workflow task timeout, or the activity's start-to-close timeout and a
retry through matching, recover it (as in Temporal).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from tidal_schema import names
from tidal_schema.messages import AddActivityTask, AddWorkflowTask
from tidal_server.bus import Bus, OutMessage, UnroutableError

from . import coalesce, metrics
from .mutation import Outgoing
from .store import PendingOutbox

__all__ = ["FALLBACK_HEADER", "publish", "to_worker"]

FALLBACK_HEADER = "x-tidal-fallback"
"""On a row addressed to a worker's queue: the matching envelope type to wrap the task in if the
queue is gone (AddWorkflowTask or AddActivityTask)."""

_KIND = {AddWorkflowTask.__name__: "workflow", AddActivityTask.__name__: "activity"}


def to_worker(o: Outgoing) -> Outgoing:
    """A task for matching that names a worker's own queue becomes the bare task for that queue
    (what the worker would have got from matching); anything else is returned as it is."""
    msg = o.message
    if isinstance(msg, AddWorkflowTask):
        queue = msg.sticky_queue
    elif isinstance(msg, AddActivityTask):
        queue = msg.worker_queue
    else:
        return o
    if queue is None or not names.is_sticky_queue(queue):
        return o
    return dataclasses.replace(
        o, exchange="", routing_key=queue, message=msg.task, headers={**o.headers, FALLBACK_HEADER: msg.type}
    )


async def publish(bus: Bus, items: Sequence[PendingOutbox], *, max_message_bytes: int) -> None:
    """Publish outbox rows, all in flight at once, the ScheduleTimers of one timer shard merged
    into one message (coalesce.py). A row for a worker's queue that no queue takes goes to
    matching instead; any other failure is raised after every publish settled (the batch then
    fails and the rows are relayed)."""
    direct = [p for p in items if FALLBACK_HEADER in p.headers]
    timers = [p for p in items if coalesce.is_schedule_timer(p.exchange, p.body)]
    plain = [
        _message(p)
        for p in items
        if FALLBACK_HEADER not in p.headers and not coalesce.is_schedule_timer(p.exchange, p.body)
    ]
    plain += coalesce.timer_messages(
        [(p.routing_key, p.body, dict(p.headers)) for p in timers], max_bytes=max_message_bytes
    )
    results = await asyncio.gather(
        bus.publish_many(plain),
        *(bus.publish(_message(p)) for p in direct),
        return_exceptions=True,
    )
    fallback: list[OutMessage] = []
    failure: BaseException | None = None
    for p, result in zip([None, *direct], results, strict=True):
        kind = _KIND.get(str(p.headers.get(FALLBACK_HEADER))) if p is not None else None
        if isinstance(result, UnroutableError) and p is not None:
            metrics.WORKER_DISPATCH.labels(kind or "other", "fallback").inc()
            fallback.append(_to_matching(p))
        elif isinstance(result, BaseException):
            failure = failure or result
        elif p is not None:
            metrics.WORKER_DISPATCH.labels(kind or "other", "direct").inc()
    if fallback:
        await bus.publish_many(fallback)
    if failure is not None:
        raise failure


def _message(p: PendingOutbox) -> OutMessage:
    return OutMessage(
        exchange=p.exchange,
        routing_key=p.routing_key,
        body=p.body,
        headers=p.headers,
        decoded=p.decoded,
        # Nobody need listen to a close notification; everything else must reach a queue.
        mandatory=p.exchange != names.NOTIFY_EXCHANGE,
    )


def _to_matching(p: PendingOutbox) -> OutMessage:
    # The row's body is the task as matching would have delivered it; wrap it in matching's
    # envelope without a worker queue (which is gone), so matching goes to the shared queue.
    envelope = b'{"type":"' + str(p.headers[FALLBACK_HEADER]).encode() + b'","task":' + p.body + b"}"
    headers = {k: v for k, v in p.headers.items() if k != FALLBACK_HEADER}
    return OutMessage(
        exchange=names.MATCHING_EXCHANGE,
        routing_key=names.MATCHING_ROUTING_KEY,
        body=envelope,
        headers=headers,
    )
