"""ContinueAsNewWorkflowExecution: the run closes ContinuedAsNew and its successor (same workflow
id, so the same shard) starts in the same transaction, with a fresh history; `current_executions`
moves to the successor. The successor's run id is derived from the closing run's, so the
transition stays a pure function of its input."""

from __future__ import annotations

import uuid

from tidal_schema import WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import TimerKind

from .. import dedup
from ..memo import current_memo
from ..mutation import Mutation
from ..state import MutableState
from ..visibility import current_search_attributes

_RUN_IDS = uuid.UUID("6f0b6c1e-0c0e-4c55-9a52-746964616c00")  # fixed: ids must be stable


def successor_run_id(namespace: str, workflow_id: str, run_id: str) -> str:
    return str(uuid.uuid5(_RUN_IDS, f"{namespace}\0{workflow_id}\0{run_id}"))


def apply(m: Mutation, c: cmd.ContinueAsNewWorkflowExecution, completed_id: int) -> None:
    old = m.state
    new_run_id = successor_run_id(old.namespace, old.workflow_id, old.run_id)
    task_queue = c.task_queue or old.task_queue
    m.close(
        WorkflowExecutionStatus.CONTINUED_AS_NEW,
        ev.WorkflowExecutionContinuedAsNew(
            new_execution_run_id=new_run_id,
            workflow_type=c.workflow_type,
            task_queue=task_queue,
            input=c.input,
            workflow_task_completed_event_id=completed_id,
        ),
    )
    first = old.run_id
    started = m.history[0].attributes if m.history else None
    if not isinstance(started, ev.WorkflowExecutionStarted):
        started = None
    if started is not None:
        first = started.first_execution_run_id or old.run_id
    backoff = c.backoff_start_interval if c.backoff_start_interval else None
    state = MutableState(
        namespace=old.namespace,
        workflow_id=old.workflow_id,
        run_id=new_run_id,
        workflow_type=c.workflow_type,
        task_queue=task_queue,
        shard_id=old.shard_id,
        start_time=m.now,
        # Inherited: a redelivered start (a client's retry, a parent's child start) must find the
        # chain it already started, not start the workflow again.
        start_request_id=old.start_request_id,
        workflow_task_timeout=c.workflow_task_timeout or old.workflow_task_timeout,
        parent=old.parent,
        priority=old.priority,
        scheduled_by=old.scheduled_by,
        execution_time=m.now + backoff if backoff else None,
        cron_schedule=old.cron_schedule,
    )
    dedup.inherit(old, state, now=m.now)  # duplicates by workflow id now reach this run
    n = Mutation(state, (), now=m.now, is_new_run=True)
    n.add_event(
        ev.WorkflowExecutionStarted(
            workflow_type=c.workflow_type,
            task_queue=task_queue,
            input=c.input,
            workflow_run_timeout=c.workflow_run_timeout,
            workflow_task_timeout=state.workflow_task_timeout,
            original_execution_run_id=new_run_id,
            first_execution_run_id=first,
            continued_execution_run_id=old.run_id,
            parent_workflow_id=old.parent.workflow_id if old.parent else None,
            parent_run_id=old.parent.run_id if old.parent else None,
            root_workflow_id=started.root_workflow_id if started else None,
            root_run_id=started.root_run_id if started else None,
            request_id=state.start_request_id,
            # Carried over unless the command sets them, as in Temporal (the search attributes
            # with the upserts of this very task).
            search_attributes=(
                c.search_attributes
                if c.search_attributes is not None
                else current_search_attributes([*m.history, *m.new_events])
            ),
            memo=c.memo if c.memo is not None else current_memo([*m.history, *m.new_events]),
            retry_policy=c.retry_policy or (started.retry_policy if started else None),
            first_workflow_task_backoff=backoff,
            priority=old.priority,
            # The continue-as-new's own header (its interceptors'), not the old run's, as Temporal.
            header=c.header,
            cron_schedule=old.cron_schedule,
            initiator="Workflow",
        )
    )
    if c.workflow_run_timeout is not None:
        n.set_timer(TimerKind.WORKFLOW_RUN_TIMEOUT, fire_at=m.now + c.workflow_run_timeout)
    if backoff:
        n.schedule_workflow_task_after(backoff, attempt=1)
    else:
        n.schedule_workflow_task()
    m.successor = n.finish()
