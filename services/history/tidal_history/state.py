"""Mutable state of one workflow run: what history keeps (cached, and as JSON in `executions`)
to decide transitions without reading the event history. The document's schema is shared with
the frontend (tidal_schema.run_document); `MutableState` is history's name for it."""

from __future__ import annotations

from tidal_schema.run_document import (
    ActivityInfo,
    ChildInfo,
    ExternalRequestInfo,
    ParentInfo,
    RunDocument,
    TimerInfo,
    UpdateInfo,
    WorkflowTaskInfo,
)

__all__ = [
    "ActivityInfo",
    "ChildInfo",
    "ExternalRequestInfo",
    "MutableState",
    "ParentInfo",
    "TimerInfo",
    "UpdateInfo",
    "WorkflowTaskInfo",
]

MutableState = RunDocument
