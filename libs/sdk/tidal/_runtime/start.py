"""What a run's WorkflowExecutionStarted gives the code: `workflow.info()` and the workflow's
object, built from the start's input."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidal_schema import events
from tidal_schema.events import HistoryEvent

from .._definitions import WorkflowDefinition
from .._search_attributes import TypedSearchAttributes
from .._workflow_info import Info, ParentInfo, RootInfo
from ..common import Priority, RawValue, RetryPolicy
from ..converter import DataConverter

__all__ = ["Construction", "construct", "start_info"]


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


@dataclass(frozen=True, kw_only=True)
class Construction:
    args: list[Any]  # the run method's arguments
    obj: Any = None  # the `@workflow.defn` class's instance (None if its constructor raised)
    failure_types: tuple[type[BaseException], ...] | None = None  # from a dynamic config
    # From decoding the input, the constructor or the dynamic config: treated like an exception
    # from run() (FailureError fails the workflow, others the task).
    error: BaseException | None = None


def construct(
    definition: WorkflowDefinition, converter: DataConverter, a: events.WorkflowExecutionStarted
) -> Construction:
    d = definition
    args: list[Any]
    if d.dynamic:
        args = [[RawValue(p) for p in a.input]]
    else:
        args = converter.from_payloads(a.input, d.arg_types)
    obj: Any = None
    try:
        obj = d.cls(*args) if d.init_takes_args else d.cls()
        failure_types = None
        if d.dynamic_config_fn is not None:
            config = d.dynamic_config_fn(obj)
            if config.failure_exception_types is not None:
                failure_types = tuple(config.failure_exception_types)
    except BaseException as e:
        return Construction(args=args, obj=obj, error=e)
    return Construction(args=args, obj=obj, failure_types=failure_types)
