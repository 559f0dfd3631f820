"""Messages that cross process boundaries over the bus.

Every message has a `type` discriminator and a `schema_version`. Messages are grouped by the
queue family that receives them; each family is a discriminated union (`HistoryMessage`,
`MatchingMessage`, `TaskMessage`, `TimerMessage`, `NotifyMessage`, `Reply`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from ._child_messages import ChildWorkflowClosed as ChildWorkflowClosed
from ._child_messages import ChildWorkflowStarted as ChildWorkflowStarted
from ._child_messages import ExternalWorkflowResult as ExternalWorkflowResult
from ._child_messages import ParentRef as ParentRef
from ._child_messages import RequestCancelExternalWorkflowExecution as RequestCancelExternalWorkflowExecution
from ._child_messages import SignalExternalWorkflowExecution as SignalExternalWorkflowExecution
from ._child_messages import StartChildWorkflowExecution as StartChildWorkflowExecution
from ._child_messages import StartChildWorkflowFailed as StartChildWorkflowFailed
from ._completion_messages import CompleteActivityTask as CompleteActivityTask
from ._completion_messages import CompleteWorkflowTask as CompleteWorkflowTask
from ._completion_messages import FailActivityTask as FailActivityTask
from ._completion_messages import FailWorkflowTask as FailWorkflowTask
from ._completion_messages import RecordActivityTaskHeartbeat as RecordActivityTaskHeartbeat
from ._completion_messages import RecordActivityTaskStarted as RecordActivityTaskStarted
from ._completion_messages import ReportActivityTaskCanceled as ReportActivityTaskCanceled
from ._query_messages import QueryErrorKind as QueryErrorKind
from ._query_messages import QueryWorkflowReply as QueryWorkflowReply
from ._query_messages import QueryWorkflowTask as QueryWorkflowTask
from ._rate_messages import MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND as MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND
from ._rate_messages import RATE_DECLARATION as RATE_DECLARATION
from ._rate_messages import RATE_DECLARATION_INTERVAL_SECONDS as RATE_DECLARATION_INTERVAL_SECONDS
from ._rate_messages import DeclareTaskQueueRate as DeclareTaskQueueRate
from ._rate_messages import check_activities_per_second as check_activities_per_second
from ._reply_messages import AckReply as AckReply
from ._reply_messages import ActivityHeartbeatReply as ActivityHeartbeatReply
from ._reply_messages import ErrorCode as ErrorCode
from ._reply_messages import ErrorReply as ErrorReply
from ._reply_messages import StartWorkflowReply as StartWorkflowReply
from ._reply_messages import WorkflowClosed as WorkflowClosed
from ._request_messages import RequestCancelWorkflowExecution as RequestCancelWorkflowExecution
from ._request_messages import SignalWorkflowExecution as SignalWorkflowExecution
from ._request_messages import TerminateWorkflowExecution as TerminateWorkflowExecution
from ._request_messages import UpdateRequest as UpdateRequest
from ._request_messages import UpdateWorkflowExecution as UpdateWorkflowExecution
from ._schedule_messages import MAX_BACKFILL_RANGES as MAX_BACKFILL_RANGES
from ._schedule_messages import BackfillSchedule as BackfillSchedule
from ._schedule_messages import CreateSchedule as CreateSchedule
from ._schedule_messages import DeleteSchedule as DeleteSchedule
from ._schedule_messages import PauseSchedule as PauseSchedule
from ._schedule_messages import ScheduleBackfillRange as ScheduleBackfillRange
from ._schedule_messages import ScheduledWorkflowClosed as ScheduledWorkflowClosed
from ._schedule_messages import ScheduledWorkflowStarted as ScheduledWorkflowStarted
from ._schedule_messages import ScheduleLink as ScheduleLink
from ._schedule_messages import TriggerSchedule as TriggerSchedule
from ._schedule_messages import UpdateSchedule as UpdateSchedule
from ._start_messages import SignalWithStartWorkflowExecution as SignalWithStartWorkflowExecution
from ._start_messages import StartWorkflowExecution as StartWorkflowExecution
from ._start_messages import UpdateWithStartWorkflowExecution as UpdateWithStartWorkflowExecution
from ._task_messages import ActivityTask as ActivityTask
from ._task_messages import AddActivityTask as AddActivityTask
from ._task_messages import AddQueryTask as AddQueryTask
from ._task_messages import AddWorkflowTask as AddWorkflowTask
from ._task_messages import WorkflowTask as WorkflowTask
from ._timer_messages import CancelTimer as CancelTimer
from ._timer_messages import FireTimer as FireTimer
from ._timer_messages import ScheduleTimer as ScheduleTimer
from ._timer_messages import ScheduleTimers as ScheduleTimers
from ._timer_messages import TimerKind as TimerKind

__all__ = [
    "HISTORY_MESSAGE",
    "MATCHING_MESSAGE",
    "MAX_BACKFILL_RANGES",
    "MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND",
    "NOTIFY_MESSAGE",
    "QUERY_REPLY",
    "RATE_DECLARATION",
    "RATE_DECLARATION_INTERVAL_SECONDS",
    "REPLY",
    "TASK_MESSAGE",
    "TIMER_MESSAGE",
    "AckReply",
    "ActivityHeartbeatReply",
    "ActivityTask",
    "AddActivityTask",
    "AddQueryTask",
    "AddWorkflowTask",
    "BackfillSchedule",
    "CancelTimer",
    "ChildWorkflowClosed",
    "ChildWorkflowStarted",
    "CompleteActivityTask",
    "CompleteWorkflowTask",
    "CreateSchedule",
    "DeclareTaskQueueRate",
    "DeleteSchedule",
    "ErrorCode",
    "ErrorReply",
    "ExternalWorkflowResult",
    "FailActivityTask",
    "FailWorkflowTask",
    "FireTimer",
    "HistoryMessage",
    "MatchingMessage",
    "NotifyMessage",
    "ParentRef",
    "PauseSchedule",
    "QueryErrorKind",
    "QueryWorkflowReply",
    "QueryWorkflowTask",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskStarted",
    "Reply",
    "ReportActivityTaskCanceled",
    "RequestCancelExternalWorkflowExecution",
    "RequestCancelWorkflowExecution",
    "ScheduleBackfillRange",
    "ScheduleLink",
    "ScheduleTimer",
    "ScheduleTimers",
    "ScheduledWorkflowClosed",
    "ScheduledWorkflowStarted",
    "SignalExternalWorkflowExecution",
    "SignalWithStartWorkflowExecution",
    "SignalWorkflowExecution",
    "StartChildWorkflowExecution",
    "StartChildWorkflowFailed",
    "StartWorkflowExecution",
    "StartWorkflowReply",
    "TaskMessage",
    "TerminateWorkflowExecution",
    "TimerKind",
    "TimerMessage",
    "TriggerSchedule",
    "UpdateRequest",
    "UpdateSchedule",
    "UpdateWithStartWorkflowExecution",
    "UpdateWorkflowExecution",
    "WorkflowClosed",
    "WorkflowTask",
    "check_activities_per_second",
]

# The families of messages each queue receives: one discriminated union each.

HistoryMessage = Annotated[
    StartWorkflowExecution
    | SignalWithStartWorkflowExecution
    | UpdateWithStartWorkflowExecution
    | CompleteWorkflowTask
    | FailWorkflowTask
    | CompleteActivityTask
    | FailActivityTask
    | RecordActivityTaskHeartbeat
    | RecordActivityTaskStarted
    | ReportActivityTaskCanceled
    | FireTimer
    | SignalWorkflowExecution
    | TerminateWorkflowExecution
    | RequestCancelWorkflowExecution
    | UpdateWorkflowExecution
    | StartChildWorkflowExecution
    | SignalExternalWorkflowExecution
    | RequestCancelExternalWorkflowExecution
    | ChildWorkflowStarted
    | StartChildWorkflowFailed
    | ChildWorkflowClosed
    | ExternalWorkflowResult
    | CreateSchedule
    | UpdateSchedule
    | PauseSchedule
    | TriggerSchedule
    | BackfillSchedule
    | DeleteSchedule
    | ScheduledWorkflowStarted
    | ScheduledWorkflowClosed,
    Field(discriminator="type"),
]

TaskMessage = Annotated[WorkflowTask | ActivityTask | QueryWorkflowTask, Field(discriminator="type")]
MatchingMessage = Annotated[AddWorkflowTask | AddActivityTask | AddQueryTask, Field(discriminator="type")]
TimerMessage = Annotated[ScheduleTimer | ScheduleTimers | CancelTimer, Field(discriminator="type")]
NotifyMessage = Annotated[WorkflowClosed, Field(discriminator="type")]
Reply = Annotated[
    StartWorkflowReply | AckReply | ErrorReply | ActivityHeartbeatReply, Field(discriminator="type")
]

HISTORY_MESSAGE: TypeAdapter[HistoryMessage] = TypeAdapter(HistoryMessage)
MATCHING_MESSAGE: TypeAdapter[MatchingMessage] = TypeAdapter(MatchingMessage)
TASK_MESSAGE: TypeAdapter[TaskMessage] = TypeAdapter(TaskMessage)
TIMER_MESSAGE: TypeAdapter[TimerMessage] = TypeAdapter(TimerMessage)
NOTIFY_MESSAGE: TypeAdapter[NotifyMessage] = TypeAdapter(NotifyMessage)
REPLY: TypeAdapter[Reply] = TypeAdapter(Reply)
QUERY_REPLY: TypeAdapter[QueryWorkflowReply] = TypeAdapter(QueryWorkflowReply)
