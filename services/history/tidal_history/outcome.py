"""What a transition produces for the shard processor to commit in one transaction: the run's
new state and events, the outbox (published after commit), timer rows and the reply. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from tidal_schema import HistoryEvent, Payload, names
from tidal_schema.messages import Reply, ScheduleTimer

from .state import MutableState

__all__ = ["Outcome", "Outgoing", "to_workflow", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """A message for the outbox: published after the transaction commits."""

    exchange: str
    routing_key: str
    message: BaseModel
    headers: dict[str, str] = field(default_factory=dict)
    """Trace context of the message that caused it (filled in by the shard processor)."""
    # (namespace, workflow_id) of a message for another workflow's history shard: the shard
    # processor, which knows the shard count, fills in the routing key.
    to_workflow: tuple[str, str] | None = None


@dataclass(kw_only=True)
class Outcome:
    state: MutableState | None
    events: list[HistoryEvent] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)
    timers_set: list[ScheduleTimer] = field(default_factory=list)
    timers_deleted: list[str] = field(default_factory=list)
    reply: Reply | None = None
    # The state document changed (False for stale or duplicate messages: nothing to write).
    changed: bool = False
    is_new_run: bool = False
    # Continue-as-new: the run that replaces this one, committed in the same transaction.
    successor: Outcome | None = None
    # Retention expired: delete the run, its events and timers instead of writing it.
    purge: bool = False
    # A new run's memo and search attributes (the `executions` columns), as its start gave them;
    # memo None: a run history starts itself, whose memo is its WorkflowExecutionStarted's.
    memo: dict[str, Payload] | None = None
    search_attributes: dict[str, Any] = field(default_factory=dict)
    # A start with TERMINATE_EXISTING: the current run it terminated, committed first in the same
    # transaction (api/start_workflow.py).
    terminated: Outcome | None = None


def to_workflow(namespace: str, workflow_id: str, message: BaseModel) -> Outgoing:
    return Outgoing(
        exchange=names.HISTORY_EXCHANGE, routing_key="", message=message, to_workflow=(namespace, workflow_id)
    )


def unchanged(reply: Reply | None = None, *, send: Sequence[Outgoing] = ()) -> Outcome:
    """Nothing to write. `send`: answers to other shards that need no write here (e.g. "no such
    workflow"); the processor publishes them after the batch commits, before acking."""
    return Outcome(state=None, reply=reply, changed=False, outbox=list(send))
