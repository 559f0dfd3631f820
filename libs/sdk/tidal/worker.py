"""The worker: runs workflow tasks (deterministic, cached per run) and activities for one task
queue. Mirrors `temporalio.worker`; the parts live in private modules (`_worker`,
`_workflow_worker`, `_activity_worker`) and are re-exported here."""

from __future__ import annotations

from ._activity_process import SharedHeartbeatSender, SharedStateManager
from ._interceptors import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)
from ._plugins import Plugin
from ._runtime import (
    PatchActivationInput,
    WorkflowInstance,  # noqa: F401  (temporalio.worker names it; see the parity table)
)
from ._tuning import FixedSizeSlotSupplier, WorkerTuner
from ._worker import Worker
from ._worker_config import WorkerConfig
from ._worker_errors import DeadlockError, WorkerError
from ._workflow_interceptors import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from .replayer import Replayer, ReplayerConfig, WorkflowReplayResult, WorkflowReplayResults

__all__ = [
    "ActivityInboundInterceptor",
    "ActivityOutboundInterceptor",
    "ContinueAsNewInput",
    "DeadlockError",
    "ExecuteActivityInput",
    "ExecuteWorkflowInput",
    "FixedSizeSlotSupplier",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "Interceptor",
    "PatchActivationInput",
    "Plugin",
    "Replayer",
    "ReplayerConfig",
    "SharedHeartbeatSender",
    "SharedStateManager",
    "SignalChildWorkflowInput",
    "SignalExternalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "Worker",
    "WorkerConfig",
    "WorkerError",
    "WorkerTuner",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]
