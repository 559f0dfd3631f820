"""Workflow side of the SDK (mirrors temporalio.workflow).

Decorators record definitions on classes and methods. The functions (`execute_activity`,
`sleep`, `now`, ...) only work inside workflow code: they find the running `WorkflowInstance`
through the running event loop, which during an activation is the instance's deterministic loop.
The implementation lives in private modules (`_definitions`, `_workflow_*`, `_children`); this
module is the public surface.
"""

from __future__ import annotations

from ._children import ChildWorkflowCancellationType as ChildWorkflowCancellationType
from ._children import ChildWorkflowConfig as ChildWorkflowConfig
from ._children import ChildWorkflowHandle as ChildWorkflowHandle
from ._children import ExternalWorkflowHandle as ExternalWorkflowHandle
from ._children import ParentClosePolicy as ParentClosePolicy
from ._children import execute_child_workflow as execute_child_workflow
from ._children import get_external_workflow_handle as get_external_workflow_handle
from ._children import get_external_workflow_handle_for as get_external_workflow_handle_for
from ._children import start_child_workflow as start_child_workflow
from ._definitions import DYNAMIC_SIGNAL as DYNAMIC_SIGNAL
from ._definitions import DynamicWorkflowConfig as DynamicWorkflowConfig
from ._definitions import QueryDefinition as QueryDefinition
from ._definitions import SignalDefinition as SignalDefinition
from ._definitions import UpdateDefinition as UpdateDefinition
from ._definitions import WorkflowDefinition as WorkflowDefinition
from ._definitions import defn as defn
from ._definitions import dynamic_config as dynamic_config
from ._definitions import get_definition as get_definition
from ._definitions import init as init
from ._definitions import query as query
from ._definitions import run as run
from ._definitions import signal as signal
from ._definitions import update as update
from ._waiting import ALL_COMPLETED as ALL_COMPLETED  # deterministic asyncio.wait & co, re-exported
from ._waiting import FIRST_COMPLETED as FIRST_COMPLETED
from ._waiting import FIRST_EXCEPTION as FIRST_EXCEPTION
from ._waiting import as_completed as as_completed
from ._waiting import wait as wait
from ._workflow_activities import ActivityCancellationType as ActivityCancellationType
from ._workflow_activities import ActivityHandle as ActivityHandle
from ._workflow_activities import execute_activity as execute_activity
from ._workflow_activities import execute_local_activity as execute_local_activity
from ._workflow_activities import start_activity as start_activity
from ._workflow_activities import start_local_activity as start_local_activity
from ._workflow_activity_forms import ActivityConfig as ActivityConfig
from ._workflow_activity_forms import LocalActivityConfig as LocalActivityConfig
from ._workflow_activity_forms import execute_activity_class as execute_activity_class
from ._workflow_activity_forms import execute_activity_method as execute_activity_method
from ._workflow_activity_forms import execute_local_activity_class as execute_local_activity_class
from ._workflow_activity_forms import execute_local_activity_method as execute_local_activity_method
from ._workflow_activity_forms import start_activity_class as start_activity_class
from ._workflow_activity_forms import start_activity_method as start_activity_method
from ._workflow_activity_forms import start_local_activity_class as start_local_activity_class
from ._workflow_activity_forms import start_local_activity_method as start_local_activity_method
from ._workflow_context import ReadOnlyContextError as ReadOnlyContextError
from ._workflow_context import all_handlers_finished as all_handlers_finished
from ._workflow_context import cancellation_reason as cancellation_reason
from ._workflow_context import deprecate_patch as deprecate_patch
from ._workflow_context import get_last_completion_result as get_last_completion_result
from ._workflow_context import get_last_failure as get_last_failure
from ._workflow_context import has_last_completion_result as has_last_completion_result
from ._workflow_context import in_workflow as in_workflow
from ._workflow_context import info as info
from ._workflow_context import instance as instance
from ._workflow_context import is_failure_exception as is_failure_exception
from ._workflow_context import memo as memo
from ._workflow_context import memo_value as memo_value
from ._workflow_context import new_random as new_random
from ._workflow_context import now as now
from ._workflow_context import patched as patched
from ._workflow_context import payload_converter as payload_converter
from ._workflow_context import random as random
from ._workflow_context import random_seed as random_seed
from ._workflow_context import register_random_seed_callback as register_random_seed_callback
from ._workflow_context import sleep as sleep
from ._workflow_context import time as time
from ._workflow_context import time_ns as time_ns
from ._workflow_context import unsafe as unsafe
from ._workflow_context import upsert_search_attributes as upsert_search_attributes
from ._workflow_context import uuid4 as uuid4
from ._workflow_context import uuid7 as uuid7
from ._workflow_context import wait_condition as wait_condition
from ._workflow_continue import ContinueAsNewError as ContinueAsNewError
from ._workflow_continue import continue_as_new as continue_as_new
from ._workflow_handlers import HandlerUnfinishedPolicy as HandlerUnfinishedPolicy
from ._workflow_handlers import UnfinishedSignalHandlersWarning as UnfinishedSignalHandlersWarning
from ._workflow_handlers import UnfinishedUpdateHandlersWarning as UnfinishedUpdateHandlersWarning
from ._workflow_handlers import UpdateInfo as UpdateInfo
from ._workflow_handlers import current_update_info as current_update_info
from ._workflow_handlers import get_dynamic_query_handler as get_dynamic_query_handler
from ._workflow_handlers import get_dynamic_signal_handler as get_dynamic_signal_handler
from ._workflow_handlers import get_dynamic_update_handler as get_dynamic_update_handler
from ._workflow_handlers import get_query_handler as get_query_handler
from ._workflow_handlers import get_signal_handler as get_signal_handler
from ._workflow_handlers import get_update_handler as get_update_handler
from ._workflow_handlers import set_dynamic_query_handler as set_dynamic_query_handler
from ._workflow_handlers import set_dynamic_signal_handler as set_dynamic_signal_handler
from ._workflow_handlers import set_dynamic_update_handler as set_dynamic_update_handler
from ._workflow_handlers import set_query_handler as set_query_handler
from ._workflow_handlers import set_signal_handler as set_signal_handler
from ._workflow_handlers import set_update_handler as set_update_handler
from ._workflow_info import Info as Info
from ._workflow_info import ParentInfo as ParentInfo
from ._workflow_info import RootInfo as RootInfo
from ._workflow_logging import LoggerAdapter as LoggerAdapter
from ._workflow_logging import logger as logger
from ._workflow_metadata import get_current_details as get_current_details
from ._workflow_metadata import set_current_details as set_current_details
from ._workflow_metadata import upsert_memo as upsert_memo
from ._workflow_metrics import metric_meter as metric_meter
from .exceptions import NondeterminismError as NondeterminismError  # where temporalio has it

__all__ = [
    "ALL_COMPLETED",
    "DYNAMIC_SIGNAL",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ActivityCancellationType",
    "ActivityConfig",
    "ActivityHandle",
    "ChildWorkflowCancellationType",
    "ChildWorkflowConfig",
    "ChildWorkflowHandle",
    "ContinueAsNewError",
    "DynamicWorkflowConfig",
    "ExternalWorkflowHandle",
    "HandlerUnfinishedPolicy",
    "Info",
    "LocalActivityConfig",
    "LoggerAdapter",
    "NondeterminismError",
    "ParentClosePolicy",
    "ParentInfo",
    "QueryDefinition",
    "ReadOnlyContextError",
    "RootInfo",
    "SignalDefinition",
    "UnfinishedSignalHandlersWarning",
    "UnfinishedUpdateHandlersWarning",
    "UpdateDefinition",
    "UpdateInfo",
    "WorkflowDefinition",
    "all_handlers_finished",
    "as_completed",
    "cancellation_reason",
    "continue_as_new",
    "current_update_info",
    "defn",
    "deprecate_patch",
    "dynamic_config",
    "execute_activity",
    "execute_activity_class",
    "execute_activity_method",
    "execute_child_workflow",
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "get_current_details",
    "get_definition",
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_dynamic_update_handler",
    "get_external_workflow_handle",
    "get_external_workflow_handle_for",
    "get_last_completion_result",
    "get_last_failure",
    "get_query_handler",
    "get_signal_handler",
    "get_update_handler",
    "has_last_completion_result",
    "in_workflow",
    "info",
    "init",
    "instance",
    "is_failure_exception",
    "logger",
    "memo",
    "memo_value",
    "metric_meter",
    "new_random",
    "now",
    "patched",
    "payload_converter",
    "query",
    "random",
    "random_seed",
    "register_random_seed_callback",
    "run",
    "set_current_details",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_dynamic_update_handler",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
    "signal",
    "sleep",
    "start_activity",
    "start_activity_class",
    "start_activity_method",
    "start_child_workflow",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
    "time",
    "time_ns",
    "unsafe",
    "update",
    "upsert_memo",
    "upsert_search_attributes",
    "uuid4",
    "uuid7",
    "wait",
    "wait_condition",
]
