"""Queries: frontend -> matching -> worker -> frontend, never through history (docs/queries-updates.md).
Part of `tidal_schema.messages` (re-exported there; `QueryWorkflowTask` is a member of
`TaskMessage`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef, _Message
from .common import Payload
from .events import HistoryEvent


class QueryWorkflowTask(_ExecutionRef):
    """Run a query handler against the run's state as of its history. `events` are the run's
    whole history as the frontend read it; a worker with the run cached at the same completed
    workflow task answers from its cache, any other replays `events` in a throwaway instance.
    Matching fills `reply_to` and `correlation_id` from the AddQueryTask's message properties;
    the worker publishes a `QueryWorkflowReply` there. After `deadline` nobody waits for the
    answer any more, so a worker drops the task unanswered."""

    type: Literal["QueryWorkflowTask"] = "QueryWorkflowTask"
    workflow_type: str
    task_queue: str
    query_id: str
    query_type: str
    query_args: tuple[Payload, ...] = ()
    # Temporal's query header (what client interceptors added).
    header: dict[str, Payload] = Field(default_factory=dict)
    events: tuple[HistoryEvent, ...]
    deadline: datetime
    reply_to: str = ""
    # > 1: `events` are only the newest part of a long history (the bus message limit); a worker
    # without the run cached at its last completed task reads the older ones from the frontend.
    first_event_id: int = 1
    correlation_id: str = ""


class QueryErrorKind(StrEnum):
    UNKNOWN_QUERY = "unknown_query"
    BAD_ARGUMENTS = "bad_arguments"
    HANDLER_FAILED = "handler_failed"
    NOT_READY = "not_ready"
    WORKER_ERROR = "worker_error"


class QueryWorkflowReply(_Message):
    """A worker's answer to a QueryWorkflowTask: `result` or `error` (with `known_queries` when the
    query name is unknown)."""

    type: Literal["QueryWorkflowReply"] = "QueryWorkflowReply"
    query_id: str
    result: Payload | None = None
    error: QueryErrorKind | None = None
    message: str = ""
    known_queries: tuple[str, ...] = ()
    identity: str = ""
