"""`WorkerConfig` (temporalio.worker's; re-exported by `tidal.worker`): what a `Worker` was
built with, as `Worker.config()` returns it; `Worker(**config)` builds another."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from ._activity_process import SharedStateManager
from ._interceptors import Interceptor
from ._plugins import Plugin
from ._runtime import PatchActivationInput
from ._tuning import WorkerTuner

if TYPE_CHECKING:
    from .client import Client

__all__ = ["WorkerConfig"]


class WorkerConfig(TypedDict, total=False):
    client: Client
    task_queue: str
    workflows: Sequence[type]
    activities: Sequence[Callable[..., Any]]
    activity_executor: concurrent.futures.Executor | None
    workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None
    interceptors: Sequence[Interceptor]
    identity: str | None
    max_cached_workflows: int
    max_concurrent_workflow_tasks: int | None
    max_concurrent_activities: int | None
    max_concurrent_local_activities: int | None
    tuner: WorkerTuner | None
    no_remote_activities: bool
    max_heartbeat_throttle_interval: timedelta
    default_heartbeat_throttle_interval: timedelta
    max_eager_activity_reservations_per_workflow_task: int
    max_activities_per_second: float | None
    max_task_queue_activities_per_second: float | None
    graceful_shutdown_timeout: timedelta
    workflow_failure_exception_types: Sequence[type[BaseException]]
    debug_mode: bool
    disable_eager_activity_execution: bool
    deadlock_detection_timeout: timedelta | float | None
    metrics_port: int | None
    plugins: Sequence[Plugin]
    plugin_shutdown_timeout: timedelta | None
    shared_state_manager: SharedStateManager | None
    on_fatal_error: Callable[[BaseException], Awaitable[None]] | None
    patch_activation_callback: Callable[[PatchActivationInput], bool] | None
    disable_safe_workflow_eviction: bool
    freeze_heap: bool
    disable_fused_completion: bool
