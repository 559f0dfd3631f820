"""Which operation handles which history message (one module per operation under `api/`), and
the small predicates the shard processor asks before dispatching."""

from __future__ import annotations

from collections.abc import Callable

from tidal_schema import WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from tidal_schema.messages import (
    ChildWorkflowClosed,
    ChildWorkflowStarted,
    CompleteActivityTask,
    CompleteWorkflowTask,
    ExternalWorkflowResult,
    FailActivityTask,
    FailWorkflowTask,
    FireTimer,
    RequestCancelExternalWorkflowExecution,
    RequestCancelWorkflowExecution,
    SignalExternalWorkflowExecution,
    SignalWorkflowExecution,
    StartChildWorkflowFailed,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    UpdateWorkflowExecution,
)

from .api import (
    child_workflow_closed,
    child_workflow_started,
    complete_activity_task,
    complete_workflow_task,
    external_workflow_result,
    fail_activity_task,
    fail_workflow_task,
    fire_timer,
    request_cancel_external_workflow,
    request_cancel_workflow,
    signal_external_workflow,
    signal_workflow,
    start_child_workflow_failed,
    terminate_workflow,
    update_workflow,
)
from .api.start_workflow import CurrentRun
from .mutation import Outcome

# Operations on an existing run: (state, history, message, now=) -> Outcome. Starts (which need
# the workflow id's current run rather than a run) are handled by the shard processor itself.
HANDLERS: dict[type, Callable[..., Outcome]] = {
    CompleteWorkflowTask: complete_workflow_task.handle,
    FailWorkflowTask: fail_workflow_task.handle,
    CompleteActivityTask: complete_activity_task.handle,
    FailActivityTask: fail_activity_task.handle,
    FireTimer: fire_timer.handle,
    SignalWorkflowExecution: signal_workflow.handle,
    TerminateWorkflowExecution: terminate_workflow.handle,
    RequestCancelWorkflowExecution: request_cancel_workflow.handle,
    UpdateWorkflowExecution: update_workflow.handle,
    # child and external workflows (docs/child-workflows.md)
    SignalExternalWorkflowExecution: signal_external_workflow.handle,
    RequestCancelExternalWorkflowExecution: request_cancel_external_workflow.handle,
    ChildWorkflowStarted: child_workflow_started.handle,
    StartChildWorkflowFailed: start_child_workflow_failed.handle,
    ChildWorkflowClosed: child_workflow_closed.handle,
    ExternalWorkflowResult: external_workflow_result.handle,
}


def terminates_existing(msg: StartWorkflowExecution, current: CurrentRun | None) -> bool:
    return (
        current is not None
        and current.status is WorkflowExecutionStatus.RUNNING
        and (
            msg.id_conflict_policy is WorkflowIdConflictPolicy.TERMINATE_EXISTING
            # The older spelling of the same thing (Temporal deprecated it for the conflict policy).
            or msg.id_reuse_policy is WorkflowIdReusePolicy.TERMINATE_IF_RUNNING
        )
        and current.start_request_id != msg.request_id  # a retried start: answered, not re-applied
    )


# Client requests by workflow id: with no such run they answer "not found" themselves; anything
# else for a missing run is a stale message from a run that is gone.
ANSWERS_MISSING = (
    SignalWorkflowExecution,
    TerminateWorkflowExecution,
    RequestCancelWorkflowExecution,
    UpdateWorkflowExecution,
    SignalExternalWorkflowExecution,
    RequestCancelExternalWorkflowExecution,
)
