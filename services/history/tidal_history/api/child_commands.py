"""Workflow-task commands about other workflows (docs/child-workflows.md): start a child, signal or
cancel another workflow, continue as new. `complete_workflow_task` hands them here; each writes
its Initiated event and queues, in the same transaction, the message for the target's shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import (
    ParentRef,
    RequestCancelExternalWorkflowExecution,
    SignalExternalWorkflowExecution,
    StartChildWorkflowExecution,
)
from tidal_server.visibility import invalid_search_attributes

from .. import cron, relations
from ..mutation import Mutation
from ..state import ChildInfo, ExternalRequestInfo, MutableState
from . import continue_as_new

COMMANDS = (
    cmd.StartChildWorkflowExecution,
    cmd.SignalExternalWorkflowExecution,
    cmd.RequestCancelExternalWorkflowExecution,
    cmd.ContinueAsNewWorkflowExecution,
)


_CROSS_NAMESPACE = (
    cmd.StartChildWorkflowExecution,
    cmd.SignalExternalWorkflowExecution,
    cmd.RequestCancelExternalWorkflowExecution,
)


def invalid(state: MutableState, commands: Sequence[cmd.Command]) -> str | None:
    """Why these commands cannot be applied (fails the workflow task), or None. A workflow id in
    use is not one of them: the child's shard answers that with StartChildWorkflowExecutionFailed."""
    for c in commands:
        # A namespace is the unit of isolation: a workflow (i.e. whoever holds a worker's broker
        # credentials) reaches no other namespace. Temporal refuses the same commands the same
        # way when cross-namespace commands are disabled (BadStartChildExecutionAttributes...).
        if isinstance(c, _CROSS_NAMESPACE) and c.namespace and c.namespace != state.namespace:
            return (
                f"{type(c).__name__} {c.workflow_id!r}: namespace {c.namespace!r} is not this "
                f"workflow's namespace {state.namespace!r}; cross-namespace commands are not allowed"
            )
        if (
            isinstance(c, cmd.StartChildWorkflowExecution)
            and c.parent_close_policy not in relations.PARENT_CLOSE_POLICIES
        ):
            return (
                f"StartChildWorkflowExecution {c.workflow_id!r}: unknown parent_close_policy "
                f"{c.parent_close_policy!r} (one of {', '.join(relations.PARENT_CLOSE_POLICIES)})"
            )
        if (
            isinstance(c, cmd.StartChildWorkflowExecution)
            and c.cron_schedule
            and (why := cron.invalid(c.cron_schedule)) is not None
        ):
            return f"StartChildWorkflowExecution {c.workflow_id!r}: cron_schedule {c.cron_schedule!r}: {why}"
        if isinstance(c, cmd.StartChildWorkflowExecution) and (
            bad := invalid_search_attributes(c.search_attributes, allow_none=False)
        ):
            # Refused here, as a client start is at the frontend, so the child's shard never sees it.
            return f"StartChildWorkflowExecution {c.workflow_id!r}: search_attributes: {bad}"
        if (
            isinstance(c, cmd.ContinueAsNewWorkflowExecution)
            and c.search_attributes is not None
            and (bad := invalid_search_attributes(c.search_attributes, allow_none=False))
        ):
            return f"ContinueAsNewWorkflowExecution: search_attributes: {bad}"
    return None


def apply(m: Mutation, c: cmd.Command, completed_id: int) -> bool:
    """Apply `c` if it is one of ours; False if it is not."""
    if isinstance(c, cmd.StartChildWorkflowExecution):
        _start_child(m, c, completed_id)
    elif isinstance(c, cmd.SignalExternalWorkflowExecution):
        _signal_external(m, c, completed_id)
    elif isinstance(c, cmd.RequestCancelExternalWorkflowExecution):
        _cancel_external(m, c, completed_id)
    elif isinstance(c, cmd.ContinueAsNewWorkflowExecution):
        continue_as_new.apply(m, c, completed_id)
    else:
        return False
    return True


def _root(m: Mutation) -> dict[str, str | None]:
    """The parent's own root (its started event's), for the child's; None: the parent is it."""
    started = m.history[0].attributes if m.history else None
    if isinstance(started, ev.WorkflowExecutionStarted) and started.root_workflow_id:
        return {"root_workflow_id": started.root_workflow_id, "root_run_id": started.root_run_id}
    return {}


def _source(m: Mutation, initiated_id: int) -> ParentRef:
    st = m.state
    return ParentRef(
        namespace=st.namespace, workflow_id=st.workflow_id, run_id=st.run_id, initiated_event_id=initiated_id
    )


def _start_child(m: Mutation, c: cmd.StartChildWorkflowExecution, completed_id: int) -> None:
    st = m.state
    namespace = c.namespace or st.namespace
    task_queue = c.task_queue or st.task_queue
    initiated = m.add_event(
        ev.StartChildWorkflowExecutionInitiated(
            namespace=namespace,
            workflow_id=c.workflow_id,
            workflow_type=c.workflow_type,
            task_queue=task_queue,
            input=c.input,
            parent_close_policy=c.parent_close_policy,
            workflow_task_completed_event_id=completed_id,
            workflow_execution_timeout=c.workflow_execution_timeout,
            workflow_run_timeout=c.workflow_run_timeout,
            workflow_task_timeout=c.workflow_task_timeout,
            id_reuse_policy=c.id_reuse_policy.value,
            retry_policy=c.retry_policy,
            memo=c.memo,
            search_attributes=c.search_attributes,
            static_summary=c.static_summary,
            static_details=c.static_details,
            header=c.header,
            cron_schedule=c.cron_schedule,
        )
    )
    st.children[initiated] = ChildInfo(
        initiated_event_id=initiated,
        namespace=namespace,
        workflow_id=c.workflow_id,
        workflow_type=c.workflow_type,
        parent_close_policy=c.parent_close_policy,
    )
    start = StartChildWorkflowExecution(
        namespace=namespace,
        workflow_id=c.workflow_id,
        workflow_type=c.workflow_type,
        task_queue=task_queue,
        input=c.input,
        request_id=f"{st.run_id}/{initiated}",
        workflow_execution_timeout=c.workflow_execution_timeout,
        workflow_run_timeout=c.workflow_run_timeout,
        parent=_source(m, initiated).model_copy(update=_root(m)),
        parent_close_policy=c.parent_close_policy,
        priority=c.priority.inherit(st.priority) if c.priority is not None else st.priority,
        id_reuse_policy=c.id_reuse_policy,
        retry_policy=c.retry_policy,
        memo=c.memo,
        search_attributes=c.search_attributes,
        static_summary=c.static_summary,
        static_details=c.static_details,
        header=c.header,
        cron_schedule=c.cron_schedule,
    )
    if c.workflow_task_timeout is not None:
        start = start.model_copy(update={"workflow_task_timeout": c.workflow_task_timeout})
    m.send_to_workflow(namespace, c.workflow_id, start)


def _track(
    m: Mutation,
    initiated: int,
    kind: Literal["signal", "cancel"],
    namespace: str,
    workflow_id: str,
    run_id: str | None,
) -> None:
    """Remember an outstanding external request until its ExternalWorkflowResult comes back."""
    m.state.external_requests[initiated] = ExternalRequestInfo(
        initiated_event_id=initiated, kind=kind, namespace=namespace, workflow_id=workflow_id, run_id=run_id
    )


def _signal_external(m: Mutation, c: cmd.SignalExternalWorkflowExecution, completed_id: int) -> None:
    st = m.state
    namespace = c.namespace or st.namespace
    initiated = m.add_event(
        ev.SignalExternalWorkflowExecutionInitiated(
            namespace=namespace,
            workflow_id=c.workflow_id,
            run_id=c.run_id,
            signal_name=c.signal_name,
            input=c.input,
            workflow_task_completed_event_id=completed_id,
            header=c.header,
        )
    )
    _track(m, initiated, "signal", namespace, c.workflow_id, c.run_id)
    m.send_to_workflow(
        namespace,
        c.workflow_id,
        SignalExternalWorkflowExecution(
            namespace=namespace,
            workflow_id=c.workflow_id,
            run_id=c.run_id,
            signal_name=c.signal_name,
            input=c.input,
            request_id=f"{st.run_id}/{initiated}",
            source=_source(m, initiated),
            header=c.header,
        ),
    )


def _cancel_external(m: Mutation, c: cmd.RequestCancelExternalWorkflowExecution, completed_id: int) -> None:
    st = m.state
    namespace = c.namespace or st.namespace
    initiated = m.add_event(
        ev.RequestCancelExternalWorkflowExecutionInitiated(
            namespace=namespace,
            workflow_id=c.workflow_id,
            run_id=c.run_id,
            workflow_task_completed_event_id=completed_id,
            reason=c.reason,
        )
    )
    _track(m, initiated, "cancel", namespace, c.workflow_id, c.run_id)
    m.send_to_workflow(
        namespace,
        c.workflow_id,
        RequestCancelExternalWorkflowExecution(
            namespace=namespace,
            workflow_id=c.workflow_id,
            run_id=c.run_id,
            request_id=f"{st.run_id}/{initiated}",
            source=_source(m, initiated),
            reason=c.reason or f"requested by workflow {st.workflow_id}",
        ),
    )
