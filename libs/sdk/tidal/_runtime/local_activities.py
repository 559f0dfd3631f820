"""Local activities: run by the worker inside the workflow task that asked for them, recorded as
a `LocalActivity` marker so that replay takes the result from history instead of running the
activity again (docs/activities.md).

The workflow side (`LocalActivities`, mixed into the runtime's services) keeps the pending calls.
When the activation goes idle with calls pending, the worker runs them (`run_local_activity`),
and `resolve()` records each marker and resumes the code, in call order, before the task
completes. On replay the markers of the task being replayed resolve the calls at the same point
(the loop going idle), so the commands come out in the same order as the first time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tidal_schema import Failure, Payload, RetryPolicy
from tidal_schema.commands import Command, RecordMarker
from tidal_schema.events import HistoryEvent

from ..converter import DataConverter
from ..exceptions import ActivityError, failure_to_error
from .loop import WorkflowEventLoop

MARKER = "LocalActivity"
# temporalio's local_retry_threshold default: local retries stop after this much time.
DEFAULT_LOCAL_RETRY_THRESHOLD = timedelta(minutes=1)


@dataclass(frozen=True, kw_only=True)
class LocalActivityRequest:
    seq: int
    activity_id: str
    activity_type: str
    input: tuple[Payload, ...]
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: timedelta
    summary: str | None = None
    # Temporal's header (the workflow's outbound interceptors'): the activity interceptors see it.
    headers: Mapping[str, Payload] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LocalActivityOutcome:
    seq: int
    attempt: int
    result: tuple[Payload, ...] = ()
    failure: Failure | None = None
    retry_state: str | None = None


@dataclass
class _Pending:
    request: LocalActivityRequest
    future: asyncio.Future[Any]
    result_type: Any
    dispatched: bool = False


def markers_ahead(evs: Sequence[HistoryEvent], command_events: Any) -> dict[int, LocalActivityOutcome]:
    """The local activity markers among the command events that follow a WorkflowTaskCompleted."""
    found: dict[int, LocalActivityOutcome] = {}
    for ev in evs:
        if ev.event_type not in command_events:
            break
        a = ev.attributes
        if a.type == "MarkerRecorded" and a.marker_name == MARKER:
            meta = a.details["meta"][0].data
            assert isinstance(meta, dict)
            found[int(meta["seq"])] = LocalActivityOutcome(
                seq=int(meta["seq"]),
                attempt=int(meta["attempt"]),
                result=tuple(a.details.get("result", ())),
                failure=a.failure,
                retry_state=meta.get("retry_state"),
            )
    return found


class LocalActivities:
    """Mixed into WorkflowServices: needs `converter`, `is_replaying`, `_commands`, `_loop`."""

    converter: DataConverter
    is_replaying: bool
    _commands: list[Command]
    _loop: WorkflowEventLoop

    def assert_not_read_only(self, what: str) -> None:
        raise NotImplementedError  # WorkflowServices

    def _init_local_activities(self) -> None:
        self._la_seq = 0
        self._la_pending: dict[int, _Pending] = {}
        # Markers of the task being replayed (set by the instance before a replayed activation).
        self._la_markers: dict[int, LocalActivityOutcome] = {}

    def start_local_activity(
        self,
        *,
        activity_type: str,
        args: list[Any],
        result_type: Any,
        start_to_close_timeout: timedelta | None,
        schedule_to_close_timeout: timedelta | None,
        retry_policy: RetryPolicy | None,
        local_retry_threshold: timedelta | None,
        activity_id: str | None,
        summary: str | None = None,
        headers: Mapping[str, Payload] | None = None,
    ) -> asyncio.Future[Any]:
        self.assert_not_read_only("start local activity")
        self._la_seq += 1
        seq = self._la_seq
        request = LocalActivityRequest(
            seq=seq,
            activity_id=activity_id or f"local-{seq}",
            activity_type=activity_type,
            input=tuple(self.converter.to_payloads(args)),
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=schedule_to_close_timeout,
            retry_policy=retry_policy,
            local_retry_threshold=local_retry_threshold or DEFAULT_LOCAL_RETRY_THRESHOLD,
            summary=summary,
            headers=dict(headers or {}),
        )
        fut = self._loop.create_future()
        self._la_pending[seq] = _Pending(request=request, future=fut, result_type=result_type)
        return fut

    def pending_local_activities(self) -> list[LocalActivityRequest]:
        """Calls the worker must run now (each is handed out once)."""
        out = []
        for p in self._la_pending.values():
            if not p.dispatched:
                p.dispatched = True
                out.append(p.request)
        return out

    def _resolve_replayed_local_activities(self) -> bool:
        """At an idle point of a replayed activation: resolve the calls history has markers for."""
        if not self.is_replaying:
            return False
        ready = [seq for seq in sorted(self._la_pending) if seq in self._la_markers]
        for seq in ready:
            self._resolve_local(self._la_markers.pop(seq))
        return bool(ready)

    def _resolve_local(self, outcome: LocalActivityOutcome) -> None:
        p = self._la_pending.pop(outcome.seq)
        r = p.request
        meta = {
            "seq": r.seq,
            "activity_id": r.activity_id,
            "activity_type": r.activity_type,
            "attempt": outcome.attempt,
            "retry_state": outcome.retry_state,
        }
        details = {"meta": (Payload(data=meta),), "result": outcome.result}
        self._commands.append(
            RecordMarker(marker_name=MARKER, details=details, failure=outcome.failure, summary=r.summary)
        )
        if p.future.done():  # the workflow stopped waiting (cancelled the call)
            return
        if outcome.failure is None:
            payloads = outcome.result[:1]
            value = self.converter.from_payloads(payloads, [p.result_type])[0] if payloads else None
            p.future.set_result(value)
            return
        error = ActivityError(
            "Local activity failed",
            activity_type=r.activity_type,
            activity_id=r.activity_id,
            retry_state=outcome.retry_state,
        )
        error.__cause__ = failure_to_error(outcome.failure)
        p.future.set_exception(error)
