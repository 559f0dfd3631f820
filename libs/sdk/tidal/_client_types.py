"""Value types and small helpers of `tidal.client` (re-exported there), kept apart so client.py
stays readable."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tidal_schema import Failure, HistoryEvent, Payload

from . import workflow as _workflow


class PendingActivityState(StrEnum):
    """temporalio's PENDING_ACTIVITY_STATE_*, plus BACKING_OFF (a retry waiting for its backoff,
    which Temporal reports as SCHEDULED with a next attempt time). STARTED is known once a worker
    reported the attempt (a heartbeat, or its start notice: at once with a schedule-to-start
    timeout, else after 2 s of running); until then a running attempt is SCHEDULED."""

    SCHEDULED = "Scheduled"
    STARTED = "Started"
    BACKING_OFF = "BackingOff"
    CANCEL_REQUESTED = "CancelRequested"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, kw_only=True)
class PendingActivityInfo:
    """An activity scheduled and not yet closed, with temporalio's `PendingActivityInfo` field
    names. `activity_type` is the name (temporalio's is a message with `.name`); `last_failure`
    and `heartbeat_details` are as stored (decode with the client's data converter)."""

    activity_id: str
    activity_type: str
    state: PendingActivityState
    attempt: int
    maximum_attempts: int
    scheduled_time: datetime | None = None
    expiration_time: datetime | None = None
    last_failure: Failure | None = None
    last_attempt_complete_time: datetime | None = None
    next_attempt_schedule_time: datetime | None = None
    last_started_time: datetime | None = None
    last_heartbeat_time: datetime | None = None
    heartbeat_details: tuple[Payload, ...] = ()
    last_worker_identity: str = ""

    @staticmethod
    def from_json(d: dict[str, Any]) -> PendingActivityInfo:
        return PendingActivityInfo(
            activity_id=d["activity_id"],
            activity_type=d["activity_type"],
            state=PendingActivityState(d.get("state") or "Scheduled"),
            attempt=int(d.get("attempt", 1)),
            maximum_attempts=int(d.get("maximum_attempts", 0)),
            scheduled_time=_time(d.get("scheduled_time")),
            expiration_time=_time(d.get("expiration_time")),
            last_failure=Failure.model_validate(d["last_failure"]) if d.get("last_failure") else None,
            last_attempt_complete_time=_time(d.get("last_attempt_complete_time")),
            next_attempt_schedule_time=_time(d.get("next_attempt_schedule_time")),
            last_started_time=_time(d.get("last_started_time")),
            last_heartbeat_time=_time(d.get("last_heartbeat_time")),
            heartbeat_details=tuple(Payload.model_validate(p) for p in d.get("heartbeat_details") or ()),
            last_worker_identity=d.get("last_worker_identity") or "",
        )


@dataclass(frozen=True, kw_only=True)
class PendingChildExecutionInfo:
    """A child workflow initiated and not yet closed (temporalio's field names); `run_id` is
    empty until the child has started."""

    workflow_id: str
    run_id: str
    workflow_type_name: str
    initiated_id: int
    parent_close_policy: str

    @staticmethod
    def from_json(d: dict[str, Any]) -> PendingChildExecutionInfo:
        return PendingChildExecutionInfo(
            workflow_id=d["workflow_id"],
            run_id=d.get("run_id") or "",
            workflow_type_name=d["workflow_type_name"],
            initiated_id=int(d["initiated_id"]),
            parent_close_policy=d.get("parent_close_policy") or "Terminate",
        )


@dataclass(frozen=True, kw_only=True)
class DescribeWorkflowExecutionResponse:
    """The parts of temporalio's raw description Tidal has, under the same names, so
    `desc.raw_description.pending_activities` ports unchanged."""

    pending_activities: tuple[PendingActivityInfo, ...] = ()
    pending_children: tuple[PendingChildExecutionInfo, ...] = ()


@dataclass(frozen=True)
class WorkflowHistory:
    """A run's events, as `WorkflowHandle.fetch_history()` returns them. `to_json()` /
    `from_json()` round-trip it through a file (the format of `GET .../history`, i.e. an object
    with an `events` list), so a `tidal.worker.Replayer` can check code changes against it."""

    workflow_id: str
    events: Sequence[HistoryEvent]
    # Tidal's addition (the run the events belong to), keyword-only as temporalio has no such field.
    run_id: str | None = field(default=None, kw_only=True)

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
