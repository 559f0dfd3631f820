"""A run with a cron schedule closes (completed, failed after its retries, or timed out): the
next run of the same workflow id starts in the same transaction, as a continue-as-new whose
initiator is "CronSchedule", its first workflow task delayed until the next cron time (a
`workflow_task_retry` timer through the timer service, as a retry's backoff). It carries the
last completed run's result (`workflow.get_last_completion_result()`) and, after a failure,
that failure (`workflow.get_last_failure()`). Cancelled and terminated runs end the chain, as
in Temporal; so does `workflow_execution_timeout`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tidal_schema import Failure, Payload, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import TimerKind

from .. import cron
from ..memo import current_memo
from ..mutation import Mutation
from ..visibility import current_search_attributes
from .continue_as_new import successor_run_id
from .next_run import next_run, started_event

__all__ = ["CRON_INITIATOR", "close"]

CRON_INITIATOR = "CronSchedule"


def _next_backoff(m: Mutation, started: ev.WorkflowExecutionStarted | None) -> timedelta | None:
    cron_schedule = m.state.cron_schedule
    if not cron_schedule or started is None:
        return None
    delay = cron.backoff(cron_schedule, now=m.now, workflow_id=m.state.workflow_id)
    expiration = started.workflow_execution_expiration_time
    if delay is None or (expiration is not None and m.now + delay >= expiration):
        return None
    return delay


def close(
    m: Mutation,
    status: WorkflowExecutionStatus,
    event: Callable[[str | None], ev.EventAttributes],
    *,
    result: tuple[Payload, ...] | None = None,
    failure: Failure | None = None,
) -> None:
    """Close the run with `status` and the close event `event(new_run_id)`; with a cron
    schedule, the next run starts (and the close event names it)."""
    started = started_event(m)
    delay = _next_backoff(m, started)
    if delay is None or started is None:
        m.close(status, event(None), result=result, failure=failure)
        return
    old = m.state
    new_run_id = successor_run_id(old.namespace, old.workflow_id, old.run_id)
    history = [*m.history, *m.new_events]
    m.close(status, event(new_run_id), result=result, failure=failure, continued=True)
    n = next_run(
        m,
        old,
        started,
        new_run_id=new_run_id,
        backoff=delay,
        update={
            "attempt": 1,
            "initiator": CRON_INITIATOR,
            "continued_failure": failure if status is WorkflowExecutionStatus.FAILED else None,
            "last_completion_result": (
                result
                if status is WorkflowExecutionStatus.COMPLETED and result is not None
                else started.last_completion_result
            ),
            "memo": current_memo(history),
            "search_attributes": current_search_attributes(history),
        },
    )
    if started.workflow_run_timeout is not None:
        deadline = m.now + delay + started.workflow_run_timeout
        expiration = started.workflow_execution_expiration_time
        n.set_timer(
            TimerKind.WORKFLOW_RUN_TIMEOUT,
            fire_at=min(deadline, expiration) if expiration is not None else deadline,
        )
    n.schedule_workflow_task_after(delay, attempt=1)
    m.successor = n.finish()
