"""What a run's WorkflowExecutionStarted gives the code: `workflow.info()`."""

from __future__ import annotations

from datetime import datetime

from tidal_schema import events
from tidal_schema.events import HistoryEvent

from .._search_attributes import TypedSearchAttributes
from .._workflow_info import Info, ParentInfo, RootInfo
from ..common import Priority, RetryPolicy

__all__ = ["start_info"]


def start_info(
    ev: HistoryEvent,
    a: events.WorkflowExecutionStarted,
    *,
    namespace: str,
    workflow_id: str,
    run_id: str,
    first_task_time: datetime,
) -> Info:
    return Info(
        attempt=a.attempt,
        continued_run_id=a.continued_execution_run_id,
        cron_schedule=a.cron_schedule,
        execution_timeout=a.workflow_execution_timeout,
        first_execution_run_id=a.first_execution_run_id or run_id,
        headers=dict(a.header),
        namespace=namespace,
        original_execution_run_id=a.original_execution_run_id or run_id,
        parent=(
            ParentInfo(namespace=namespace, run_id=a.parent_run_id, workflow_id=a.parent_workflow_id)
            if a.parent_workflow_id and a.parent_run_id
            else None
        ),
        root=(
            RootInfo(run_id=a.root_run_id, workflow_id=a.root_workflow_id)
            if a.root_workflow_id and a.root_run_id
            else None
        ),
        priority=Priority.from_schema(a.priority),
        raw_memo=dict(a.memo),
        retry_policy=RetryPolicy.from_schema(a.retry_policy) if a.retry_policy else None,
        run_id=run_id,
        run_timeout=a.workflow_run_timeout,
        search_attributes=dict(a.search_attributes),
        # temporalio's: the first workflow task's time (that activation's), while
        # workflow_start_time is the start event's.
        start_time=first_task_time,
        task_queue=a.task_queue,
        task_timeout=a.workflow_task_timeout,
        typed_search_attributes=TypedSearchAttributes.from_json(a.search_attributes),
        workflow_id=workflow_id,
        workflow_start_time=ev.event_time,
        workflow_type=a.workflow_type,
    )
