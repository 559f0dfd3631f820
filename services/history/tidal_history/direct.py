"""Tasks history hands straight to a worker queue, skipping matching.

Three kinds: a workflow task for a run whose last task a worker completed (its sticky queue), an
eager activity (ScheduleActivityTask.request_eager_execution, Temporal's eager activity execution)
for the worker that scheduled it, and any other workflow task (a run's first, or one whose worker
left) for its task queue's shared workflow queue, which is all matching would do with it: workflow
tasks have no rate limit, and the row carries the task's AMQP priority (`PRIORITY_HEADER`). Each is
an outbox row like any other (committed with the transition, published after the commit, relayed
after a crash), only addressed to the queue through the default exchange, published mandatory,
and marked with `FALLBACK_HEADER`. A worker's queue lives and dies with its connection, so when
the publish comes back unroutable the worker is gone and the same task goes to matching instead,
which hands it to the task queue's shared queue: what matching did itself before, one hop later.
A shared queue nobody declared yet (no worker has polled the task queue) comes back unroutable
the same way, and matching declares it. So that matching still knows every task queue in use (its
backlog gauge), `SharedQueues` sends a task queue's workflow task through matching at least once
per interval.

What this keeps: a task is never dropped for a missing queue (unroutable -> matching, in the same
publish step, before the outbox row counts as published; a crash in between relays the row and
tries again). A task that reaches a worker which then dies is lost with its exclusive queue, as a
sticky task was before: the workflow task timeout, or the activity's start-to-close timeout and a
retry through matching, recover it (as in Temporal).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence

from tidal_schema import names
from tidal_schema.messages import AddActivityTask, AddWorkflowTask
from tidal_server.bus import Bus, OutMessage, UnroutableError

from . import coalesce, metrics
from .mutation import Outgoing
from .store import PendingOutbox

__all__ = ["FALLBACK_HEADER", "PRIORITY_HEADER", "SharedQueues", "publish", "to_worker"]

FALLBACK_HEADER = "x-tidal-fallback"
"""On a row addressed to a worker's queue: the matching envelope type to wrap the task in if the
queue is gone (AddWorkflowTask or AddActivityTask)."""

PRIORITY_HEADER = "x-tidal-priority"
"""On a row addressed to a shared workflow queue: the AMQP priority matching would publish it with
(names.task_priority), as a string (rows' headers are strings)."""

_KIND = {AddWorkflowTask.__name__: "workflow", AddActivityTask.__name__: "activity"}


class SharedQueues:
    """Which workflow tasks without a worker's queue may go straight to the task queue's shared
    queue: all but one per task queue per `refresh_seconds` (per history process), which goes
    through matching so that matching declares the queue and keeps reporting its backlog (it
    learns task queues only from the tasks it dispatches, and forgets them when it restarts).
    `refresh_seconds` <= 0: every such task goes through matching, as before."""

    def __init__(
        self,
        *,
        refresh_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_task_queues: int = 4096,
    ) -> None:
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._max = max_task_queues
        self._via_matching: dict[tuple[str, str], float] = {}

    def direct(self, namespace: str, task_queue: str) -> bool:
        if self._refresh <= 0:
            return False
        now = self._monotonic()
        key = (namespace, task_queue)
        last = self._via_matching.get(key)
        if last is not None and now - last < self._refresh:
            return True
        if last is None and len(self._via_matching) >= self._max:
            # Bounded memory against many task queues; forgetting costs a hop through matching.
            self._via_matching.clear()
        self._via_matching[key] = now
        return False


def to_worker(o: Outgoing, *, shared: SharedQueues | None = None) -> Outgoing:
    """A task for matching that names a worker's own queue becomes the bare task for that queue
    (what the worker would have got from matching); with `shared`, a workflow task without one
    becomes the bare task for its task queue's shared queue when `shared` allows it; anything
    else is returned as it is."""
    msg = o.message
    if isinstance(msg, AddWorkflowTask):
        queue = msg.sticky_queue
        if queue is None and shared is not None and shared.direct(msg.task.namespace, msg.task.task_queue):
            priority = msg.task.priority
            headers = {
                **o.headers,
                FALLBACK_HEADER: msg.type,
                PRIORITY_HEADER: str(names.task_priority(priority.priority_key if priority else None)),
            }
            shared_queue = names.workflow_task_queue(msg.task.namespace, msg.task.task_queue)
            return dataclasses.replace(
                o, exchange="", routing_key=shared_queue, message=msg.task, headers=headers
            )
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
    priority = p.headers.get(PRIORITY_HEADER)
    return OutMessage(
        exchange=p.exchange,
        routing_key=p.routing_key,
        body=p.body,
        headers=p.headers,
        priority=int(priority) if priority is not None else None,
        decoded=p.decoded,
        # Nobody need listen to a close notification; everything else must reach a queue.
        mandatory=p.exchange != names.NOTIFY_EXCHANGE,
    )


def _to_matching(p: PendingOutbox) -> OutMessage:
    # The row's body is the task as matching would have delivered it; wrap it in matching's
    # envelope without a worker queue (which is gone), so matching goes to the shared queue.
    envelope = b'{"type":"' + str(p.headers[FALLBACK_HEADER]).encode() + b'","task":' + p.body + b"}"
    headers = {k: v for k, v in p.headers.items() if k not in (FALLBACK_HEADER, PRIORITY_HEADER)}
    return OutMessage(
        exchange=names.MATCHING_EXCHANGE,
        routing_key=names.MATCHING_ROUTING_KEY,
        body=envelope,
        headers=headers,
    )
