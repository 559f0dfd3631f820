"""What a run owes the runs it is related to (docs/child-workflows.md): when it closes, its parent
hears about it and its children get the parent close policy; child events written late (buffered
while a workflow task was outstanding) get their `started_event_id` filled in. No I/O here: every
effect is a message in the closing transaction's outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidal_schema import Failure, Payload, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import (
    ChildWorkflowClosed,
    RequestCancelWorkflowExecution,
    ScheduledWorkflowClosed,
    TerminateWorkflowExecution,
)

from .state import ChildInfo

if TYPE_CHECKING:
    from .mutation import Mutation

TERMINATE = "Terminate"
REQUEST_CANCEL = "RequestCancel"
ABANDON = "Abandon"
PARENT_CLOSE_POLICIES = (TERMINATE, REQUEST_CANCEL, ABANDON)


def on_close(
    m: Mutation,
    status: WorkflowExecutionStatus,
    *,
    result: tuple[Payload, ...] | None,
    failure: Failure | None,
    continued: bool = False,
) -> None:
    st = m.state
    for child in st.children.values():
        _apply_parent_close_policy(m, child)
    st.children.clear()
    st.external_requests.clear()
    _tell_schedule(m, status, continued=continued)
    parent = st.parent
    # A run that continues as new is not the end of the child: its successor keeps the parent.
    if parent is None or continued or status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
        return
    m.send_to_workflow(
        parent.namespace,
        parent.workflow_id,
        ChildWorkflowClosed(
            namespace=parent.namespace,
            workflow_id=parent.workflow_id,
            run_id=parent.run_id,
            initiated_event_id=parent.initiated_event_id,
            child_workflow_id=st.workflow_id,
            child_run_id=st.run_id,
            workflow_type=st.workflow_type,
            status=status,
            result=result or (),
            failure=failure,
        ),
    )


def _tell_schedule(m: Mutation, status: WorkflowExecutionStatus, *, continued: bool) -> None:
    """A scheduled run's chain closed: the schedule's overlap policy may start the next one."""
    st, link = m.state, m.state.scheduled_by
    if link is None or continued or status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
        return
    m.send_to_workflow(
        link.namespace,
        link.schedule_id,
        ScheduledWorkflowClosed(
            namespace=link.namespace,
            schedule_id=link.schedule_id,
            incarnation=link.incarnation,
            nominal_time=link.nominal_time,
            started_workflow_id=st.workflow_id,
            run_id=st.run_id,
            status=status,
        ),
    )


def _apply_parent_close_policy(m: Mutation, child: ChildInfo) -> None:
    st = m.state
    reason = f"parent {st.workflow_id} ({st.run_id}) closed; parent close policy {child.parent_close_policy}"
    if child.parent_close_policy == TERMINATE:
        m.send_to_workflow(
            child.namespace,
            child.workflow_id,
            TerminateWorkflowExecution(
                namespace=child.namespace,
                workflow_id=child.workflow_id,
                run_id=None,  # the child's current run: it may have continued as new
                reason=reason,
                identity="parent-close-policy",
            ),
        )
    elif child.parent_close_policy == REQUEST_CANCEL:
        m.send_to_workflow(
            child.namespace,
            child.workflow_id,
            RequestCancelWorkflowExecution(
                namespace=child.namespace,
                workflow_id=child.workflow_id,
                request_id=f"{st.run_id}/{child.initiated_event_id}/parent-close",
                reason=reason,
                identity="parent-close-policy",
            ),
        )


def record_child_started(m: Mutation, child: ChildInfo, attrs: ev.ChildWorkflowExecutionStarted) -> None:
    if m.state.workflow_task is None:
        child.started_event_id = m.state.next_event_id  # the id record_external writes it under
    m.record_external(attrs)


def fix_buffered_child_event(
    m: Mutation, attrs: ev.EventAttributes, started_ids: dict[int, int]
) -> ev.EventAttributes:
    """Called for each buffered event as it is written (`started_ids`: per flush)."""
    if isinstance(attrs, ev.ChildWorkflowExecutionStarted):
        started_ids[attrs.initiated_event_id] = m.state.next_event_id
        child = m.state.children.get(attrs.initiated_event_id)
        if child is not None:
            child.started_event_id = m.state.next_event_id
        return attrs
    if (
        isinstance(
            attrs,
            ev.ChildWorkflowExecutionCompleted
            | ev.ChildWorkflowExecutionFailed
            | ev.ChildWorkflowExecutionCanceled
            | ev.ChildWorkflowExecutionTerminated
            | ev.ChildWorkflowExecutionTimedOut,
        )
        and attrs.started_event_id == 0
        and attrs.initiated_event_id in started_ids
    ):
        return attrs.model_copy(update={"started_event_id": started_ids[attrs.initiated_event_id]})
    return attrs
