"""The messages a run sends out, built from its state: the workflow task and activity tasks for
matching, and the close notification. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent, names
from tidal_schema import events as ev
from tidal_schema.limits import NOTIFY_OUTCOME_MAX_BYTES
from tidal_schema.messages import ActivityTask, AddWorkflowTask, WorkflowClosed, WorkflowTask

from .state import ActivityInfo, MutableState
from .updates import pending as pending_updates

__all__ = ["activity_task", "closed_notification", "workflow_task"]


def workflow_task(st: MutableState, events: Sequence[HistoryEvent]) -> AddWorkflowTask:
    """The outstanding workflow task with the run's whole history (`events`)."""
    assert st.workflow_task is not None
    return AddWorkflowTask(
        sticky_queue=st.sticky_queue,
        task=WorkflowTask(
            namespace=st.namespace,
            workflow_id=st.workflow_id,
            run_id=st.run_id,
            workflow_type=st.workflow_type,
            task_queue=st.task_queue,
            scheduled_event_id=st.workflow_task.scheduled_event_id,
            attempt=st.workflow_task.attempt,
            first_event_id=1,
            history_length=len(events),
            events=events,
            history_routing_key=names.shard_routing_key(st.shard_id),
            updates=pending_updates(st, st.workflow_task.scheduled_event_id),
            priority=st.priority,
        ),
    )


def activity_task(st: MutableState, info: ActivityInfo, *, now: datetime) -> ActivityTask:
    """The activity's current attempt, scheduled `now`."""
    return ActivityTask(
        namespace=st.namespace,
        workflow_id=st.workflow_id,
        run_id=st.run_id,
        workflow_type=st.workflow_type,
        activity_id=info.activity_id,
        activity_type=info.activity_type,
        task_queue=info.task_queue,
        input=info.input,
        scheduled_event_id=info.scheduled_event_id,
        attempt=info.attempt,
        scheduled_time=info.scheduled_time,
        current_attempt_scheduled_time=now,
        schedule_to_close_timeout=info.schedule_to_close_timeout,
        start_to_close_timeout=info.start_to_close_timeout,
        heartbeat_timeout=info.heartbeat_timeout,
        heartbeat_details=info.heartbeat_details,
        history_routing_key=names.shard_routing_key(st.shard_id),
        schedule_to_start_timeout=info.schedule_to_start_timeout,
        priority=info.priority,
        retry_policy=info.retry_policy,
        header=info.header,
    )


def closed_notification(st: MutableState, attributes: ev.EventAttributes) -> WorkflowClosed:
    """The close notification, with the outcome when it is small enough to fan out."""
    closed = WorkflowClosed(
        namespace=st.namespace, workflow_id=st.workflow_id, run_id=st.run_id, status=st.status
    )
    full = closed.model_copy(
        update={
            "has_outcome": True,
            "result": st.result,
            "failure": st.failure,
            "new_run_id": getattr(attributes, "new_execution_run_id", None),
        }
    )
    return full if len(full.model_dump_json()) <= NOTIFY_OUTCOME_MAX_BYTES else closed
