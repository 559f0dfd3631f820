"""Tidal's event-schema library: every message and history event, and the bus names.

Pure pydantic models, no I/O. Services, the SDK and the docs share it.
"""

from . import commands, events, messages, names
from .common import (
    SCHEMA_VERSION,
    Failure,
    Payload,
    Priority,
    RetryPolicy,
    TimeoutType,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
    json_payloads,
)
from .events import CLOSE_EVENT_TYPES, HistoryEvent
from .sharding import DEFAULT_SHARD_COUNT, shard_for

__all__ = [
    "CLOSE_EVENT_TYPES",
    "DEFAULT_SHARD_COUNT",
    "SCHEMA_VERSION",
    "Failure",
    "HistoryEvent",
    "Payload",
    "Priority",
    "RetryPolicy",
    "TimeoutType",
    "WorkflowExecution",
    "WorkflowExecutionStatus",
    "WorkflowIdConflictPolicy",
    "WorkflowIdReusePolicy",
    "commands",
    "events",
    "json_payloads",
    "messages",
    "names",
    "shard_for",
]
