"""The next run of the same workflow id, started in the closing run's transaction (a retry
attempt, a cron run): the old run's identity and options carried over, its start event the old
one's with what the caller changes, its first workflow task after a backoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tidal_schema import events as ev

from .. import dedup
from ..mutation import Mutation
from ..state import MutableState

__all__ = ["next_run", "started_event"]


def started_event(m: Mutation) -> ev.WorkflowExecutionStarted | None:
    """The run's WorkflowExecutionStarted (its first event), None if history does not have it."""
    if m.history and isinstance(a := m.history[0].attributes, ev.WorkflowExecutionStarted):
        return a
    return None


def next_run(
    m: Mutation,
    old: MutableState,
    started: ev.WorkflowExecutionStarted,
    *,
    new_run_id: str,
    backoff: timedelta,
    update: dict[str, Any],
) -> Mutation:
    """The successor run's mutation with its start event written; the caller sets its timers,
    schedules its first workflow task and hands it to `m.successor`."""
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
    chain = {
        "original_execution_run_id": new_run_id,
        "continued_execution_run_id": old.run_id,
        "first_execution_run_id": started.first_execution_run_id or old.run_id,
        "first_workflow_task_backoff": backoff,
    }
    n.add_event(started.model_copy(update={**chain, **update}))
    return n
