"""A failed workflow with a retry policy: the run closes Failed (naming its successor) and the next
attempt starts as a new run of the same workflow id, in the same transaction, its first workflow
task delayed by the backoff. As in Temporal, only failures are retried (not cancellation or
termination), `workflow_execution_timeout` bounds the whole chain, and clients following the
result (`handle.result()`) follow the chain to the last attempt."""

from __future__ import annotations

from datetime import timedelta

from tidal_schema import Failure, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import TimerKind

from .. import dedup
from ..mutation import Mutation
from ..retry import next_retry_delay, resolve_policy
from ..state import MutableState
from .continue_as_new import successor_run_id


def _started(m: Mutation) -> ev.WorkflowExecutionStarted | None:
    if m.history and isinstance(a := m.history[0].attributes, ev.WorkflowExecutionStarted):
        return a
    return None


def delay(m: Mutation, failure: Failure) -> timedelta | None:
    """The backoff before the next attempt, or None: no policy, a non-retryable failure, attempts
    or the execution timeout used up."""
    started = _started(m)
    if started is None or started.retry_policy is None:
        return None
    return next_retry_delay(
        resolve_policy(started.retry_policy),
        attempt=started.attempt,
        failure=failure,
        now=m.now,
        expiration=started.workflow_execution_expiration_time,
    )


def apply(m: Mutation, failure: Failure, completed_id: int, backoff: timedelta) -> None:
    started = _started(m)
    assert started is not None
    old = m.state
    new_run_id = successor_run_id(old.namespace, old.workflow_id, old.run_id)
    m.close(
        WorkflowExecutionStatus.FAILED,
        ev.WorkflowExecutionFailed(
            failure=failure, workflow_task_completed_event_id=completed_id, new_execution_run_id=new_run_id
        ),
        failure=failure,
        continued=True,
    )
    state = MutableState(
        namespace=old.namespace,
        workflow_id=old.workflow_id,
        run_id=new_run_id,
        workflow_type=old.workflow_type,
        task_queue=old.task_queue,
        shard_id=old.shard_id,
        start_time=m.now,
        # Inherited so a redelivered start finds the chain instead of starting it again.
        start_request_id=old.start_request_id,
        workflow_task_timeout=old.workflow_task_timeout,
        parent=old.parent,
        execution_time=m.now + backoff,
        static_summary=old.static_summary,
        static_details=old.static_details,
        priority=old.priority,
        scheduled_by=old.scheduled_by,
        cron_schedule=old.cron_schedule,
    )
    dedup.inherit(old, state, now=m.now)  # duplicates by workflow id now reach this run
    n = Mutation(state, (), now=m.now, is_new_run=True)
    n.add_event(
        started.model_copy(
            update={
                "attempt": started.attempt + 1,
                "original_execution_run_id": new_run_id,
                "continued_execution_run_id": old.run_id,
                "first_execution_run_id": started.first_execution_run_id or old.run_id,
                "first_workflow_task_backoff": backoff,
                "continued_failure": failure,
                "initiator": "Retry",
            }
        )
    )
    expiration = started.workflow_execution_expiration_time
    run_timeout = started.workflow_run_timeout
    deadline = m.now + run_timeout if run_timeout is not None else None
    if expiration is not None and (deadline is None or expiration < deadline):
        deadline = expiration
    if deadline is not None:
        n.set_timer(TimerKind.WORKFLOW_RUN_TIMEOUT, fire_at=deadline)
    n.schedule_workflow_task_after(backoff, attempt=1)
    m.successor = n.finish()
