"""Value types and small helpers of `tidal.client` (re-exported there), kept apart so client.py
stays readable."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tidal_schema import HistoryEvent, WorkflowExecutionStatus

from . import workflow as _workflow
from ._search_attributes import TypedSearchAttributes


@dataclass(frozen=True, kw_only=True)
class WorkflowExecutionDescription:
    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    raw: dict[str, Any] = field(repr=False)
    namespace: str = ""
    # The run that started this one as a child, and the top of its chain of parents (the run
    # itself when it has none), as temporalio's `parent_id` / `root_id`.
    parent_id: str | None = None
    parent_run_id: str | None = None
    root_id: str | None = None
    root_run_id: str | None = None
    # When the first workflow task was due: start_time plus start_delay (or a retry's backoff).
    execution_time: datetime | None = None
    # Name -> JSON value, as `WorkflowExecution.search_attributes` of a list.
    search_attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        return TypedSearchAttributes.from_json(self.search_attributes)

    async def static_summary(self) -> str | None:
        """The summary given at start (temporalio's user metadata; async there too)."""
        value = self.raw.get("static_summary")
        return value if isinstance(value, str) else None

    async def static_details(self) -> str | None:
        value = self.raw.get("static_details")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class WorkflowHistory:
    """A run's events, as `WorkflowHandle.fetch_history()` returns them. `to_json()` /
    `from_json()` round-trip it through a file (the format of `GET .../history`, i.e. an object
    with an `events` list), so a `tidal.worker.Replayer` can check code changes against it."""

    workflow_id: str
    events: Sequence[HistoryEvent]
    run_id: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The events as a JSON-compatible dict (`{"events": [...]}`, without the workflow id,
        as temporalio's); `from_json` reads it back."""
        return {"events": [e.model_dump(mode="json") for e in self.events]}

    def to_json(self) -> str:
        body = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "events": [e.model_dump(mode="json") for e in self.events],
        }
        return json.dumps(body, indent=1)

    @staticmethod
    def from_json(workflow_id: str, history: str | bytes | dict[str, Any] | list[Any]) -> WorkflowHistory:
        """Accepts `to_json()` output, a `GET .../history` page, or the event list that
        `tidal workflow show --output json` prints."""
        data = json.loads(history) if isinstance(history, str | bytes) else history
        if isinstance(data, list):
            data = {"events": data}
        evs = tuple(HistoryEvent.model_validate(e) for e in data["events"])
        return WorkflowHistory(workflow_id, evs, run_id=data.get("run_id"))


def _signal_name(signal: Any) -> str:
    """A signal may be named by string or by its @workflow.signal method."""
    if isinstance(signal, str):
        return signal
    return str(getattr(signal, "__tidal_signal_name__", signal.__name__))


def _workflow_name(workflow: Any) -> tuple[str, Any]:
    """A workflow may be named by string, by its class, or by its @workflow.run method."""
    if isinstance(workflow, str):
        return workflow, None
    if isinstance(workflow, type):
        defn = _workflow.get_definition(workflow)
        return defn.name, defn.ret_type
    owner = _owner_class(workflow)
    if owner is not None:
        defn = _workflow.get_definition(owner)
        return defn.name, defn.ret_type
    raise TypeError(
        f"{workflow!r} is not a workflow: pass a @workflow.defn class, its @workflow.run method, "
        "or the workflow type name"
    )


def _owner_class(fn: Any) -> type | None:
    qualname = getattr(fn, "__qualname__", "")
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    if module is None or "." not in qualname or "<locals>" in qualname:
        return None
    obj: Any = module
    for part in qualname.split(".")[:-1]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if isinstance(obj, type) else None
