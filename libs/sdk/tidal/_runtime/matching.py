"""Matching history's command events against the commands workflow code produced.

Each command a workflow task completes with comes back as one history event (ScheduleActivityTask ->
ActivityTaskScheduled, ...). On replay the code runs again and must produce the same commands in
the same order; comparing type plus identifying key is what Temporal does, and is what catches an
incompatible code change before it corrupts the run.
"""

from __future__ import annotations

from typing import Any

from tidal_schema.commands import Command, RecordMarker
from tidal_schema.events import HistoryEvent

from ..exceptions import NondeterminismError
from .children import CHILD_JOB_EVENTS

PATCH_MARKER = "core_patch"

ADVICE = (
    "the workflow code changed incompatibly with this run's history; guard the change with "
    "workflow.patched() or deploy it as a new workflow type"
)

# history event type -> (command type, fields that must be equal on both)
COMMAND_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ActivityTaskScheduled": ("ScheduleActivityTask", ("activity_id", "activity_type")),
    "ActivityTaskCancelRequested": ("RequestCancelActivityTask", ("scheduled_event_id",)),
    "TimerStarted": ("StartTimer", ("timer_id",)),
    "TimerCanceled": ("CancelTimer", ("timer_id",)),
    "WorkflowExecutionCompleted": ("CompleteWorkflowExecution", ()),
    "WorkflowExecutionFailed": ("FailWorkflowExecution", ()),
    "WorkflowExecutionCanceled": ("CancelWorkflowExecution", ()),
    "WorkflowExecutionContinuedAsNew": ("ContinueAsNewWorkflowExecution", ()),
    "MarkerRecorded": ("RecordMarker", ("marker_name",)),
    "StartChildWorkflowExecutionInitiated": ("StartChildWorkflowExecution", ("workflow_id",)),
    "SignalExternalWorkflowExecutionInitiated": (
        "SignalExternalWorkflowExecution",
        ("workflow_id", "signal_name"),
    ),
    "RequestCancelExternalWorkflowExecutionInitiated": (
        "RequestCancelExternalWorkflowExecution",
        ("workflow_id",),
    ),
    "UpsertWorkflowSearchAttributes": ("UpsertWorkflowSearchAttributes", ()),
    "WorkflowPropertiesModified": ("ModifyWorkflowProperties", ()),
}

# What a completed workflow task recorded: its command events and, among them, the outcomes of
# the update protocol messages it sent (which have no command to match). A scan of what one task
# recorded (its markers, its patches) must step over the latter rather than stop at them.
TASK_OUTPUT_EVENTS = frozenset(COMMAND_EVENTS) | {
    "WorkflowExecutionUpdateAccepted",
    "WorkflowExecutionUpdateCompleted",
}

# Events the server writes on its own that the workflow reacts to (buffered as activation jobs).
JOB_EVENTS = (
    frozenset(
        {
            "WorkflowExecutionStarted",
            "WorkflowExecutionSignaled",
            "WorkflowExecutionCancelRequested",
            "ActivityTaskCompleted",
            "ActivityTaskFailed",
            "ActivityTaskTimedOut",
            "ActivityTaskCanceled",
            "TimerFired",
        }
    )
    | CHILD_JOB_EVENTS
)


def _describe(obj: Any, keys: tuple[str, ...]) -> str:
    fields = ", ".join(f"{k}={getattr(obj, k, None)!r}" for k in keys)
    return f"{obj.type!s}({fields})"


def describe_command(cmd: Command) -> str:
    for command_type, keys in COMMAND_EVENTS.values():
        if command_type == cmd.type:
            return _describe(cmd, keys)
    return str(cmd.type)


def patch_id(event: HistoryEvent) -> str | None:
    """The patch id of a `workflow.patched()` marker event, else None."""
    a = event.attributes
    if a.type != "MarkerRecorded" or a.marker_name != PATCH_MARKER:
        return None
    payloads = a.details.get("patch_id", ())
    return str(payloads[0].data) if payloads else None


def matches(event: HistoryEvent, cmd: Command) -> bool:
    command_type, keys = COMMAND_EVENTS[event.event_type]
    if cmd.type != command_type:
        return False
    if any(getattr(cmd, k) != getattr(event.attributes, k) for k in keys):
        return False
    # Two patch markers must also agree on which patch they record.
    if isinstance(cmd, RecordMarker) and cmd.marker_name == PATCH_MARKER:
        ids = cmd.details.get("patch_id", ())
        return bool(ids) and str(ids[0].data) == patch_id(event)
    return True


def mismatch(event: HistoryEvent, cmd: Command | None) -> NondeterminismError:
    _, keys = COMMAND_EVENTS[event.event_type]
    what = f"history event {event.event_id} {_describe(event.attributes, keys)}"
    if cmd is None:
        return NondeterminismError(
            f"Nondeterminism: {what} has no matching command: the workflow code did not produce one at "
            f"this point; {ADVICE}"
        )
    return NondeterminismError(
        f"Nondeterminism: {what} does not match the command the workflow code produced, "
        f"{describe_command(cmd)}; {ADVICE}"
    )


def unmatched(commands: list[Command], event: HistoryEvent) -> NondeterminismError:
    produced = ", ".join(describe_command(c) for c in commands)
    return NondeterminismError(
        f"Nondeterminism: the workflow code produced {produced} but history has no such event(s) "
        f"before event {event.event_id} {event.event_type}; {ADVICE}"
    )
