"""History's size limits (docs/configuration.md#limits), as pure functions the shard processor
applies around every transition:

- what a worker sends is bounded by the blob size limit: a completion whose command carries too
  large a payload fails its workflow task with Temporal's `Bad...Attributes` cause; an activity
  result that is too large fails the activity (non-retryable), as Temporal does;
- a run's history is bounded by event count and bytes: past the warning level history logs and
  counts it once, at the error level it terminates the run;
- a workflow task carries at most a budget of history (sticky tasks only what the worker has
  not seen); the worker pages older events from the frontend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from tidal_schema import Failure, HistoryEvent, Payload, limits, sizes
from tidal_schema.commands import Command
from tidal_schema.messages import (
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FailActivityTask,
    FailWorkflowTask,
    HistoryMessage,
)

__all__ = [
    "HistoryLimits",
    "HistoryVerdict",
    "enforce_blob_size",
    "event_size",
    "fit_workflow_task",
    "heartbeat_details_failure",
    "history_verdict",
]

# Temporal's reasons (common.FailureReason...ExceedsLimit), so operators find them by the same text.
COUNT_EXCEEDED = "Workflow history count exceeds limit."
SIZE_EXCEEDED = "Workflow history size exceeds limit."
RESULT_EXCEEDED = "Complete result exceeds size limit."
FAILURE_EXCEEDED = "Failure exceeds size limit."
HEARTBEAT_EXCEEDED = "Heartbeat details exceed size limit."
# How much of an oversized failure's own message the replacement keeps, so it still says what failed.
_KEPT_MESSAGE_CHARS = 200

# Temporal's WorkflowTaskFailedCause for a command whose payloads are too large.
_BAD_CAUSE = {
    "ScheduleActivityTask": "BadScheduleActivityAttributes",
    "CompleteWorkflowExecution": "BadCompleteWorkflowExecutionAttributes",
    "FailWorkflowExecution": "BadFailWorkflowExecutionAttributes",
    "CancelWorkflowExecution": "BadCancelWorkflowExecutionAttributes",
    "ContinueAsNewWorkflowExecution": "BadContinueAsNewAttributes",
    "StartChildWorkflowExecution": "BadStartChildExecutionAttributes",
    "SignalExternalWorkflowExecution": "BadSignalInputSize",
    "RecordMarker": "BadRecordMarkerAttributes",
    "UpsertWorkflowSearchAttributes": "BadSearchAttributes",
    "ProtocolMessage": "BadUpdateWorkflowExecutionMessage",
}


@dataclass(frozen=True, kw_only=True)
class HistoryLimits:
    blob_size: int = limits.MAX_PAYLOAD_BYTES
    history_count_warn: int = limits.HISTORY_COUNT_WARN
    history_count_error: int = limits.HISTORY_COUNT_ERROR
    history_size_warn: int = limits.HISTORY_SIZE_WARN
    history_size_error: int = limits.HISTORY_SIZE_ERROR
    history_count_suggest_continue_as_new: int = limits.HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW
    history_size_suggest_continue_as_new: int = limits.HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW
    max_message_bytes: int = limits.MESSAGE_MAX_BYTES
    task_history_max_events: int = limits.TASK_HISTORY_MAX_EVENTS
    task_history_max_bytes: int = limits.TASK_HISTORY_MAX_BYTES

    @property
    def task_history_budget(self) -> int:
        return sizes.task_history_budget(self.max_message_bytes, self.task_history_max_bytes)


@dataclass(frozen=True, kw_only=True)
class HistoryVerdict:
    warnings: tuple[str, ...] = ()  # "count" / "size" crossed their warning level just now
    terminate: str | None = None  # the reason, when a limit is reached


event_size = sizes.event_size


def history_verdict(
    lim: HistoryLimits, *, count_before: int, size_before: int, count: int, size: int
) -> HistoryVerdict:
    warnings = tuple(
        name
        for name, before, now, warn in (
            ("count", count_before, count, lim.history_count_warn),
            ("size", size_before, size, lim.history_size_warn),
        )
        if before < warn <= now
    )
    if count >= lim.history_count_error:
        return HistoryVerdict(
            warnings=warnings, terminate=f"{COUNT_EXCEEDED} ({count} events, limit {lim.history_count_error})"
        )
    if size >= lim.history_size_error:
        return HistoryVerdict(
            warnings=warnings, terminate=f"{SIZE_EXCEEDED} ({size} bytes, limit {lim.history_size_error})"
        )
    return HistoryVerdict(warnings=warnings)


# --- what workers send ------------------------------------------------------------------------


def _payloads(value: object) -> Iterator[Payload]:
    if isinstance(value, Payload):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _payloads(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _payloads(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _payloads(item)


def _oversized_command(commands: Sequence[Command], limit: int) -> tuple[Command, int] | None:
    for command in commands:
        size = sizes.payloads_size(_payloads(command))
        if size > limit:
            return command, size
    return None


def enforce_blob_size(msg: HistoryMessage, lim: HistoryLimits) -> HistoryMessage:
    """`msg`, or the failure it turns into when it carries payloads over the blob size limit."""
    if isinstance(msg, CompleteWorkflowTask):
        bad = _oversized_command(msg.commands, lim.blob_size)
        if bad is None:
            return msg
        command, size = bad
        return FailWorkflowTask(
            namespace=msg.namespace,
            workflow_id=msg.workflow_id,
            run_id=msg.run_id,
            scheduled_event_id=msg.scheduled_event_id,
            attempt=msg.attempt,
            identity=msg.identity,
            cause=_BAD_CAUSE.get(command.type, "BadCommandAttributes"),
            failure=Failure(
                message=(
                    f"{command.type} command payloads of {size} bytes exceed the blob size limit "
                    f"of {lim.blob_size} bytes"
                ),
                type="BlobSizeLimitError",
                source="history",
                kind="server",
            ),
        )
    if isinstance(msg, FailActivityTask | FailWorkflowTask):
        return _bounded_failure(msg, lim)
    if isinstance(msg, CompleteActivityTask):
        nested = msg.workflow_task
        if nested is not None and _oversized_command(nested.commands, lim.blob_size) is not None:
            # A fused completion (api/fused_completion.py) is refused, never partly applied: the
            # result alone counts, and the worker's replay sends the task's completion on its own,
            # which fails the task as above.
            msg = msg.model_copy(update={"workflow_task": None})
        size = sizes.payloads_size(msg.result)
        if size <= lim.blob_size:
            return msg
        return FailActivityTask(
            namespace=msg.namespace,
            workflow_id=msg.workflow_id,
            run_id=msg.run_id,
            scheduled_event_id=msg.scheduled_event_id,
            attempt=msg.attempt,
            identity=msg.identity,
            failure=Failure(
                message=f"{RESULT_EXCEEDED} ({size} bytes, limit {lim.blob_size})",
                type="BlobSizeLimitError",
                source="history",
                kind="server",
                non_retryable=True,
            ),
        )
    return msg


def _server_failure(reason: str, size: int, blob_size: int, *, was: Failure | None = None) -> Failure:
    kept = ""
    if was is not None:
        kept = f": {was.type + ': ' if was.type else ''}{was.message[:_KEPT_MESSAGE_CHARS]}"
    return Failure(
        message=f"{reason} ({size} bytes, limit {blob_size}){kept}",
        type="BlobSizeLimitError",
        source="history",
        kind="server",
        non_retryable=True,
    )


def heartbeat_details_failure(size: int, blob_size: int) -> Failure:
    """What an attempt fails with when it heartbeats `size` bytes of details (Temporal's reason)."""
    return _server_failure(HEARTBEAT_EXCEEDED, size, blob_size)


def _bounded_failure(
    msg: FailActivityTask | FailWorkflowTask, lim: HistoryLimits
) -> FailActivityTask | FailWorkflowTask:
    """A failure (details, stack traces, causes) or unsent heartbeat details over the blob size
    limit would be written to history as they are, on every attempt: as Temporal, the failure is
    replaced by a server failure naming the limit (and an activity is not retried: the next
    attempt would most likely fail the same way)."""
    if isinstance(msg, FailActivityTask) and msg.last_heartbeat_details:
        size = sizes.payloads_size(msg.last_heartbeat_details)
        if size > lim.blob_size:
            failure = heartbeat_details_failure(size, lim.blob_size)
            return msg.model_copy(update={"failure": failure, "last_heartbeat_details": None})
    size = len(msg.failure.model_dump_json())
    if size <= lim.blob_size:
        return msg
    failure = _server_failure(FAILURE_EXCEEDED, size, lim.blob_size, was=msg.failure)
    return msg.model_copy(update={"failure": failure})


# --- what workflow tasks carry ---------------------------------------------------------------


def _seen_by_sticky_worker(events: Sequence[HistoryEvent]) -> int:
    """The last event the sticky worker has applied: the WorkflowTaskScheduled of the last task
    it completed (its cached instance stops there); 0 when no task completed yet."""
    for e in reversed(events):
        a = e.attributes
        if a.type == "WorkflowTaskCompleted":
            return int(a.scheduled_event_id)
    return 0


def fit_workflow_task(msg: AddWorkflowTask, lim: HistoryLimits, *, history_size: int = 0) -> AddWorkflowTask:
    """Cut the task's events (the whole history) down to what it needs to carry: after what the
    sticky worker has seen, and within the task budget (`first_event_id` > 1 then tells the
    worker to page the older events from the frontend). The last event, the task's own
    WorkflowTaskScheduled, is always carried: a speculative task's is not stored anywhere.
    `history_size`: the run's bytes of history, told to the workflow with the continue-as-new
    suggestion (Temporal's thresholds)."""
    task = msg.task
    suggest = (
        task.history_length >= lim.history_count_suggest_continue_as_new
        or history_size >= lim.history_size_suggest_continue_as_new
    )
    if history_size or suggest:
        update = {"history_size_bytes": history_size, "suggest_continue_as_new": suggest}
        task = task.model_copy(update=update)
        msg = msg.model_copy(update={"task": task})
    events = task.events
    start = 0  # index of the first event to carry
    if msg.sticky_queue is not None:
        seen = _seen_by_sticky_worker(events)
        start = max(0, min(seen - task.first_event_id + 1, len(events) - 1))
    first = sizes.newest_events(
        events, max_events=lim.task_history_max_events, max_bytes=lim.task_history_budget, start=start
    )
    if first == 0:
        return msg
    carried = events[first:]
    return msg.model_copy(
        update={"task": task.model_copy(update={"events": carried, "first_event_id": carried[0].event_id})}
    )
