"""StartChildWorkflowExecution, on the child's shard: start the child (recording its parent) and
answer the parent's shard with ChildWorkflowStarted, in the same transaction; or answer
StartChildWorkflowFailed when the workflow id is taken. A redelivered start (same request id)
answers with the child run it already started."""

from __future__ import annotations

from tidal_schema.messages import (
    ChildWorkflowStarted,
    ParentRef,
    StartChildWorkflowExecution,
    StartChildWorkflowFailed,
    StartWorkflowExecution,
)

from ..mutation import Outcome, Outgoing, to_workflow, unchanged
from ..operation import OperationContext
from ..state import ParentInfo
from . import start_workflow


def handle(ctx: OperationContext, msg: StartChildWorkflowExecution) -> Outcome:
    current, new_run_id = ctx.current, ctx.new_run_id
    p = msg.parent
    if current is not None and current.start_request_id == msg.request_id:
        return unchanged(send=[_answer(_started(msg, current.run_id))])
    start = StartWorkflowExecution(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        workflow_type=msg.workflow_type,
        task_queue=msg.task_queue,
        input=msg.input,
        request_id=msg.request_id,
        workflow_execution_timeout=msg.workflow_execution_timeout,
        workflow_run_timeout=msg.workflow_run_timeout,
        workflow_task_timeout=msg.workflow_task_timeout,
        identity=f"parent:{p.workflow_id}",
        priority=msg.priority,
        id_reuse_policy=msg.id_reuse_policy,
        retry_policy=msg.retry_policy,
        memo=msg.memo,
        search_attributes=msg.search_attributes,
        static_summary=msg.static_summary,
        static_details=msg.static_details,
        header=msg.header,
        cron_schedule=msg.cron_schedule,
    )
    parent = ParentInfo(
        namespace=p.namespace,
        workflow_id=p.workflow_id,
        run_id=p.run_id,
        initiated_event_id=p.initiated_event_id,
    )
    root = (p.root_workflow_id or p.workflow_id, p.root_run_id or p.run_id)
    outcome = start_workflow.start(
        start, current, new_run_id=new_run_id, shard_id=ctx.shard_id, now=ctx.now, parent=parent, root=root
    )
    outcome.reply = None  # nobody waits on a reply-to: the answer goes to the parent's shard
    if not outcome.changed:
        failed = StartChildWorkflowFailed(
            namespace=p.namespace,
            workflow_id=p.workflow_id,
            run_id=p.run_id,
            initiated_event_id=p.initiated_event_id,
            child_workflow_id=msg.workflow_id,
            workflow_type=msg.workflow_type,
        )
        return unchanged(send=[_answer(failed)])
    outcome.outbox.append(_answer(_started(msg, new_run_id)))
    return outcome


def _started(msg: StartChildWorkflowExecution, run_id: str) -> ChildWorkflowStarted:
    p: ParentRef = msg.parent
    return ChildWorkflowStarted(
        namespace=p.namespace,
        workflow_id=p.workflow_id,
        run_id=p.run_id,
        initiated_event_id=p.initiated_event_id,
        child_workflow_id=msg.workflow_id,
        child_run_id=run_id,
        workflow_type=msg.workflow_type,
    )


def _answer(message: ChildWorkflowStarted | StartChildWorkflowFailed) -> Outgoing:
    return to_workflow(message.namespace, message.workflow_id, message)
