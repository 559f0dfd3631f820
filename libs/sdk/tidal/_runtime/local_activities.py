"""Local activities: run by the worker inside the workflow task that asked for them, recorded as
a `LocalActivity` marker so that replay takes the result from history instead of running the
activity again (docs/activities.md).

The workflow side (`LocalActivities`, a collaborator of the instance) keeps the pending calls.
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
from tidal_schema.commands import RecordMarker
from tidal_schema.events import HistoryEvent

from ..exceptions import ActivityError, failure_to_error
from .activation import ActivationState

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


def markers_ahead(evs: Sequence[HistoryEvent], task_events: Any) -> dict[int, LocalActivityOutcome]:
    """The local activity markers among what the task that a WorkflowTaskCompleted closes recorded
    (`task_events`: matching.TASK_OUTPUT_EVENTS)."""
    found: dict[int, LocalActivityOutcome] = {}
    for ev in evs:
        if ev.event_type not in task_events:
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
    """The run's local activity calls: started by workflow code, handed to the worker when the
    activation goes idle, resolved by its outcomes (or, on replay, by the task's markers)."""

    def __init__(self, state: ActivationState) -> None:
        self._state = state
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        # Markers of the task being replayed (`expect_markers` before a replayed activation).
        self._markers: dict[int, LocalActivityOutcome] = {}

    def start(
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
        self._state.assert_not_read_only("start local activity")
        self._seq += 1
        seq = self._seq
        request = LocalActivityRequest(
            seq=seq,
            activity_id=activity_id or f"local-{seq}",
            activity_type=activity_type,
            input=tuple(self._state.converter.to_payloads(args)),
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=schedule_to_close_timeout,
            retry_policy=retry_policy,
            local_retry_threshold=local_retry_threshold or DEFAULT_LOCAL_RETRY_THRESHOLD,
            summary=summary,
            headers=dict(headers or {}),
        )
        fut = self._state.loop.create_future()
        self._pending[seq] = _Pending(request=request, future=fut, result_type=result_type)
        return fut

    def pending(self) -> list[LocalActivityRequest]:
        """Calls the worker must run now (each is handed out once)."""
        out = []
        for p in self._pending.values():
            if not p.dispatched:
                p.dispatched = True
                out.append(p.request)
        return out

    def expect_markers(self, markers: dict[int, LocalActivityOutcome]) -> None:
        """The markers of the task about to be replayed (`markers_ahead`)."""
        self._markers = markers

    def resolve_replayed(self) -> bool:
        """At an idle point of a replayed activation: resolve the calls history has markers for."""
        if not self._state.replaying:
            return False
        ready = [seq for seq in sorted(self._pending) if seq in self._markers]
        for seq in ready:
            self.resolve(self._markers.pop(seq))
        return bool(ready)

    def resolve(self, outcome: LocalActivityOutcome) -> None:
        """Record the call's marker and resume the code waiting on it."""
        p = self._pending.pop(outcome.seq)
        r = p.request
        meta = {
            "seq": r.seq,
            "activity_id": r.activity_id,
            "activity_type": r.activity_type,
            "attempt": outcome.attempt,
            "retry_state": outcome.retry_state,
        }
        details = {"meta": (Payload(data=meta),), "result": outcome.result}
        # Not `add_command`: the marker is the runtime's, recorded even in a read-only moment.
        self._state.commands.append(
            RecordMarker(marker_name=MARKER, details=details, failure=outcome.failure, summary=r.summary)
        )
        if p.future.done():  # the workflow stopped waiting (cancelled the call)
            return
        if outcome.failure is None:
            payloads = outcome.result[:1]
            value = self._state.converter.from_payloads(payloads, [p.result_type])[0] if payloads else None
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
