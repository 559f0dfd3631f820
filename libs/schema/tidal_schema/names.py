"""Exchange, queue and routing-key names: the one place they are spelled."""

from __future__ import annotations

import hashlib
import re

HISTORY_EXCHANGE = "tidal.history"
MATCHING_EXCHANGE = "tidal.matching"
TIMER_EXCHANGE = "tidal.timer"
NOTIFY_EXCHANGE = "tidal.notify"
COMMANDS_EXCHANGE = "tidal.commands"
# Topic exchange for any AMQP client; every routing key lands in this queue, which the frontends
# consume competitively (an unknown key is dead-lettered with a reason, not silently dropped).
COMMANDS_QUEUE = "tidal.frontend.commands"

MATCHING_QUEUE = "tidal.matching"
MATCHING_ROUTING_KEY = "tasks"
RATES_EXCHANGE = "tidal.rates"
MATCHING_RATES_ROUTING_KEY = "rates"
"""Workers' task-queue rate declarations, on RATES_EXCHANGE: every matching process binds its
own queue (matching_rates_queue) with this key, so each one hears every declaration. An exchange
of their own, not MATCHING_EXCHANGE: a worker may publish declarations, never matching's tasks
(scripts/rabbitmq-users.sh)."""

FIRE_HEADER = "x-tidal-timer-fire"
"""On every FireTimer the timer service publishes (value: the fire's due time, ISO 8601), so that
history tells a fire from other deliveries before decoding it, whatever the body's layout: a fire
sent ahead of its due time must be recognised to be held until it (a marker in the body alone can
sit past any fixed scan: ids of 1,000 escaped characters come first)."""

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _part(value: str) -> str:
    """AMQP names allow only [A-Za-z0-9-_.:]; '.' separates our name parts, so everything else
    (including '.' and ':') is escaped as ':<hex>' to keep names valid and unambiguous."""
    return _SAFE.sub(lambda m: f":{ord(m.group()):x}:", value)


queue_name_part = _part
"""The escaped form a namespace or task queue takes inside a queue name (see limits.py)."""


def shard_routing_key(shard_id: int) -> str:
    return f"shard.{shard_id}"


def history_queue(shard_id: int) -> str:
    return f"tidal.history.shard.{shard_id}"


def timer_queue(shard_id: int) -> str:
    return f"tidal.timer.shard.{shard_id}"


def workflow_task_queue(namespace: str, task_queue: str) -> str:
    return f"tidal.tq.{_part(namespace)}.{_part(task_queue)}.workflow"


def activity_task_queue(namespace: str, task_queue: str) -> str:
    return f"tidal.tq.{_part(namespace)}.{_part(task_queue)}.activity"


def rate_limited_activity_queue(namespace: str, task_queue: str) -> str:
    """Where matching holds a rate-limited task queue's activity tasks until its limiter lets
    them through to activity_task_queue (same length as that name: limits.py's bound holds)."""
    return f"tidal.rl.{_part(namespace)}.{_part(task_queue)}.activity"


def matching_rates_queue(member_id: str) -> str:
    """One matching process's queue of rate declarations (auto-delete: gone with the process)."""
    return f"tidal.matching.rates.{_part(member_id)}"


# Shared task queues are RabbitMQ priority queues (x-max-priority) so that a backlog is handed
# out by Temporal's priority key: key 1 (first) is AMQP priority 5, the default key 3 is 3, key 5
# is 1; equal keys keep their order. Matching, the SDK and the embedded bus declare them alike
# (RabbitMQ refuses a redeclaration with other arguments). docs/task-priority.md.
TASK_QUEUE_MAX_PRIORITY = 5
DEFAULT_PRIORITY_KEY = 3
QUERY_TASK_PRIORITY = TASK_QUEUE_MAX_PRIORITY
"""Queries share the workflow task queue and are waited for: they go before any task."""


def task_priority(priority_key: int | None) -> int:
    """The AMQP message priority of a task with Temporal's `priority_key` (None: the default)."""
    key = priority_key or DEFAULT_PRIORITY_KEY
    return TASK_QUEUE_MAX_PRIORITY + 1 - min(max(key, 1), TASK_QUEUE_MAX_PRIORITY)


STICKY_QUEUE_PREFIX = "tidal.sticky."


MAX_QUEUE_NAME_BYTES = 255
"""AMQP's limit on a queue name or routing key (a short string): a longer one cannot even be
encoded into a frame (the client library raises before anything is sent)."""


def sticky_queue(worker_identity: str) -> str:
    """A worker's own queue: its identity escaped, cut to fit `MAX_QUEUE_NAME_BYTES` (an identity
    of 40 CJK characters escapes to 240 bytes; the worker could not declare its queue) with a
    digest of the whole identity at the end, so that identities differing past the cut (a unique
    suffix) still name different queues."""
    name = f"{STICKY_QUEUE_PREFIX}{_part(worker_identity)}"
    if len(name) <= MAX_QUEUE_NAME_BYTES:
        return name
    digest = hashlib.sha256(worker_identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{name[: MAX_QUEUE_NAME_BYTES - len(digest) - 1]}.{digest}"


def is_sticky_queue(name: str) -> bool:
    """A worker's own queue, as a worker names it: history publishes tasks only to such names
    (a completion could name any queue, e.g. a history shard's, or one too long for AMQP, whose
    publish raises before it is sent: a completion's `sticky_queue` may be 1,000 characters)."""
    return (
        name.startswith(STICKY_QUEUE_PREFIX)
        and len(name) > len(STICKY_QUEUE_PREFIX)
        and fits_queue_name(name)
    )


def fits_queue_name(name: str) -> bool:
    """Whether `name` can be a queue name or routing key (at most `MAX_QUEUE_NAME_BYTES` in UTF-8)."""
    return (
        len(name) <= MAX_QUEUE_NAME_BYTES // 4
        or len(name.encode("utf-8", "surrogatepass")) <= MAX_QUEUE_NAME_BYTES
    )


# Dead-letter exchange every durable queue points at (x-dead-letter-exchange); workers that
# declare shared task queues must use the same arguments as the server or RabbitMQ refuses them.
DEAD_LETTER_EXCHANGE = "tidal.dlx"
DEAD_LETTER_QUEUE = "tidal.dead-letter"


# --- activity model -----------------------------------------------------------------------


def activity_control_queue(worker_identity: str) -> str:
    """A worker's own queue for history's answers to its activity heartbeats (exclusive,
    auto-delete, like the sticky queue)."""
    return f"tidal.worker.{_part(worker_identity)}.activities"
