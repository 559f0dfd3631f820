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

from ..mutation import Mutation
from ..retry import next_retry_delay, resolve_policy
from .continue_as_new import successor_run_id
from .next_run import next_run, started_event


def delay(m: Mutation, failure: Failure) -> timedelta | None:
    """The backoff before the next attempt, or None: no policy, a non-retryable failure, attempts
    or the execution timeout used up."""
    started = started_event(m)
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
    started = started_event(m)
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
    n = next_run(
        m,
        old,
        started,
        new_run_id=new_run_id,
        backoff=backoff,
        update={"attempt": started.attempt + 1, "continued_failure": failure, "initiator": "Retry"},
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
