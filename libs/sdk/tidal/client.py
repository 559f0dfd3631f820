"""The client: start workflows and talk to running ones through the frontend's HTTP API.

Mirrors `temporalio.client` (`Client.connect`, `start_workflow`, `execute_workflow`,
`get_workflow_handle`, `WorkflowHandle.result/describe/fetch_history/signal/terminate/query/
execute_update/start_update`). The code lives in private modules re-exported here: `Client`
in `_client.py`, `WorkflowHandle` in `_workflow_handle.py`, queries and updates in
`_client_interactions.py`, value types in `_client_types.py`.
"""

from __future__ import annotations

from tidal_schema import WorkflowExecutionStatus as WorkflowExecutionStatus

# Public here, as in temporalio.client (explicit re-exports from the private modules).
from ._async_activity import AsyncActivityCancelledError as AsyncActivityCancelledError
from ._async_activity import AsyncActivityHandle as AsyncActivityHandle
from ._async_activity import CompleteAsyncActivityInput as CompleteAsyncActivityInput
from ._async_activity import FailAsyncActivityInput as FailAsyncActivityInput
from ._async_activity import HeartbeatAsyncActivityInput as HeartbeatAsyncActivityInput
from ._async_activity import ReportCancellationAsyncActivityInput as ReportCancellationAsyncActivityInput
from ._client import Client as Client
from ._client import ClientConfig as ClientConfig
from ._client_connect import HttpConnectConfig as HttpConnectConfig
from ._client_connect import PayloadLimitsConfig as PayloadLimitsConfig
from ._client_connect import Plugin as Plugin
from ._client_errors import RPCTimeoutOrCancelledError as RPCTimeoutOrCancelledError
from ._client_errors import WorkflowContinuedAsNewError as WorkflowContinuedAsNewError
from ._client_errors import (
    WorkflowUpdateRPCTimeoutOrCancelledError as WorkflowUpdateRPCTimeoutOrCancelledError,
)
from ._client_inputs import CancelWorkflowInput as CancelWorkflowInput
from ._client_inputs import CountWorkflowsInput as CountWorkflowsInput
from ._client_inputs import DescribeWorkflowInput as DescribeWorkflowInput
from ._client_inputs import FetchWorkflowHistoryEventsInput as FetchWorkflowHistoryEventsInput
from ._client_inputs import ListWorkflowsInput as ListWorkflowsInput
from ._client_inputs import QueryWorkflowInput as QueryWorkflowInput
from ._client_inputs import SignalWorkflowInput as SignalWorkflowInput
from ._client_inputs import StartWorkflowInput as StartWorkflowInput
from ._client_inputs import StartWorkflowUpdateInput as StartWorkflowUpdateInput
from ._client_inputs import StartWorkflowUpdateWithStartInput as StartWorkflowUpdateWithStartInput
from ._client_inputs import TerminateWorkflowInput as TerminateWorkflowInput
from ._client_inputs import UpdateWithStartStartWorkflowInput as UpdateWithStartStartWorkflowInput
from ._client_inputs import UpdateWithStartUpdateWorkflowInput as UpdateWithStartUpdateWorkflowInput
from ._client_interactions import WorkflowQueryFailedError as WorkflowQueryFailedError
from ._client_interactions import WorkflowQueryRejectedError as WorkflowQueryRejectedError
from ._client_interactions import WorkflowUpdateFailedError as WorkflowUpdateFailedError
from ._client_interactions import WorkflowUpdateHandle as WorkflowUpdateHandle
from ._client_interactions import WorkflowUpdateStage as WorkflowUpdateStage
from ._client_interceptor import Interceptor as Interceptor
from ._client_interceptor import OutboundInterceptor as OutboundInterceptor
from ._client_types import DescribeWorkflowExecutionResponse as DescribeWorkflowExecutionResponse
from ._client_types import PendingActivityInfo as PendingActivityInfo
from ._client_types import PendingActivityState as PendingActivityState
from ._client_types import PendingChildExecutionInfo as PendingChildExecutionInfo
from ._client_types import WorkflowHistory as WorkflowHistory
from ._executions import WorkflowExecution as WorkflowExecution
from ._executions import WorkflowExecutionAsyncIterator as WorkflowExecutionAsyncIterator
from ._executions import WorkflowExecutionDescription as WorkflowExecutionDescription
from ._history_events import WorkflowHistoryEventAsyncIterator as WorkflowHistoryEventAsyncIterator
from ._history_events import WorkflowHistoryEventFilterType as WorkflowHistoryEventFilterType
from ._policies import WorkflowIDConflictPolicy as WorkflowIDConflictPolicy
from ._policies import WorkflowIDReusePolicy as WorkflowIDReusePolicy
from ._schedule_client import ScheduleAsyncIterator as ScheduleAsyncIterator
from ._schedule_client import ScheduleHandle as ScheduleHandle
from ._schedule_inputs import BackfillScheduleInput as BackfillScheduleInput
from ._schedule_inputs import CreateScheduleInput as CreateScheduleInput
from ._schedule_inputs import DeleteScheduleInput as DeleteScheduleInput
from ._schedule_inputs import DescribeScheduleInput as DescribeScheduleInput
from ._schedule_inputs import ListSchedulesInput as ListSchedulesInput
from ._schedule_inputs import PauseScheduleInput as PauseScheduleInput
from ._schedule_inputs import TriggerScheduleInput as TriggerScheduleInput
from ._schedule_inputs import UnpauseScheduleInput as UnpauseScheduleInput
from ._schedule_inputs import UpdateScheduleInput as UpdateScheduleInput
from ._schedule_list import ScheduleListAction as ScheduleListAction
from ._schedule_list import ScheduleListActionStartWorkflow as ScheduleListActionStartWorkflow
from ._schedule_list import ScheduleListDescription as ScheduleListDescription
from ._schedule_list import ScheduleListInfo as ScheduleListInfo
from ._schedule_list import ScheduleListSchedule as ScheduleListSchedule
from ._schedule_list import ScheduleListState as ScheduleListState
from ._schedule_spec import ScheduleCalendarSpec as ScheduleCalendarSpec
from ._schedule_spec import ScheduleIntervalSpec as ScheduleIntervalSpec
from ._schedule_spec import ScheduleRange as ScheduleRange
from ._schedule_spec import ScheduleSpec as ScheduleSpec
from ._schedules import Schedule as Schedule
from ._schedules import ScheduleAction as ScheduleAction
from ._schedules import ScheduleActionExecution as ScheduleActionExecution
from ._schedules import ScheduleActionExecutionStartWorkflow as ScheduleActionExecutionStartWorkflow
from ._schedules import ScheduleActionResult as ScheduleActionResult
from ._schedules import ScheduleActionStartWorkflow as ScheduleActionStartWorkflow
from ._schedules import ScheduleAlreadyRunningError as ScheduleAlreadyRunningError
from ._schedules import ScheduleBackfill as ScheduleBackfill
from ._schedules import ScheduleDescription as ScheduleDescription
from ._schedules import ScheduleInfo as ScheduleInfo
from ._schedules import ScheduleOverlapPolicy as ScheduleOverlapPolicy
from ._schedules import SchedulePolicy as SchedulePolicy
from ._schedules import ScheduleState as ScheduleState
from ._schedules import ScheduleUpdate as ScheduleUpdate
from ._schedules import ScheduleUpdateInput as ScheduleUpdateInput
from ._visibility import WorkflowExecutionCount as WorkflowExecutionCount
from ._visibility import WorkflowExecutionCountAggregationGroup as WorkflowExecutionCountAggregationGroup
from ._with_start import WithStartWorkflowOperation as WithStartWorkflowOperation
from ._workflow_handle import WorkflowHandle as WorkflowHandle
from .activity import ActivityCancellationDetails as ActivityCancellationDetails
from .converter import ActivitySerializationContext as ActivitySerializationContext
from .converter import DataConverter as DataConverter
from .converter import SerializationContext as SerializationContext
from .converter import WithSerializationContext as WithSerializationContext
from .converter import WorkflowSerializationContext as WorkflowSerializationContext
from .exceptions import RPCError as RPCError
from .exceptions import WorkflowAlreadyStartedError as WorkflowAlreadyStartedError
from .exceptions import WorkflowFailureError as WorkflowFailureError

__all__ = [
    "ActivityCancellationDetails",
    "ActivitySerializationContext",
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "BackfillScheduleInput",
    "CancelWorkflowInput",
    "Client",
    "ClientConfig",
    "CompleteAsyncActivityInput",
    "CountWorkflowsInput",
    "CreateScheduleInput",
    "DeleteScheduleInput",
    "DescribeScheduleInput",
    "DescribeWorkflowInput",
    "FailAsyncActivityInput",
    "FetchWorkflowHistoryEventsInput",
    "HeartbeatAsyncActivityInput",
    "HttpConnectConfig",
    "Interceptor",
    "ListSchedulesInput",
    "ListWorkflowsInput",
    "OutboundInterceptor",
    "PauseScheduleInput",
    "PayloadLimitsConfig",
    "Plugin",
    "QueryWorkflowInput",
    "RPCError",
    "RPCTimeoutOrCancelledError",
    "ReportCancellationAsyncActivityInput",
    "Schedule",
    "ScheduleAction",
    "ScheduleActionExecution",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleAsyncIterator",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListAction",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "SerializationContext",
    "SignalWorkflowInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "StartWorkflowUpdateWithStartInput",
    "TerminateWorkflowInput",
    "TriggerScheduleInput",
    "UnpauseScheduleInput",
    "UpdateScheduleInput",
    "UpdateWithStartStartWorkflowInput",
    "UpdateWithStartUpdateWorkflowInput",
    "WithSerializationContext",
    "WithStartWorkflowOperation",
    "WorkflowAlreadyStartedError",
    "WorkflowContinuedAsNewError",
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowHistory",
    "WorkflowHistoryEventAsyncIterator",
    "WorkflowHistoryEventFilterType",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowQueryFailedError",
    "WorkflowQueryRejectedError",
    "WorkflowSerializationContext",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
    "WorkflowUpdateStage",
]
