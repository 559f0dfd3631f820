"""temporalio's other ways to call an activity from workflow code: by method (`@activity.defn` on
a method of a class whose instance the worker registers), by callable class (`@activity.defn` on
a class with `__call__`), and the `ActivityConfig` / `LocalActivityConfig` dicts to pass options
around (`workflow.execute_activity(fn, x, **config)`). Part of `tidal.workflow`'s API
(re-exported there); each form is `start_activity` / `start_local_activity` with the result type
taken from the callable's hints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypedDict

from ._workflow_activities import (
    ActivityCancellationType,
    ActivityHandle,
    start_activity,
    start_local_activity,
)
from ._workflow_context import _MISSING
from .common import Priority, RetryPolicy

__all__ = [
    "ActivityConfig",
    "LocalActivityConfig",
    "execute_activity_class",
    "execute_activity_method",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "start_activity_class",
    "start_activity_method",
    "start_local_activity_class",
    "start_local_activity_method",
]

_TRY_CANCEL = ActivityCancellationType.TRY_CANCEL


class ActivityConfig(TypedDict, total=False):
    """Options of `start_activity` / `execute_activity` (and the method and class forms)."""

    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    cancellation_type: ActivityCancellationType
    activity_id: str | None
    summary: str | None
    priority: Priority


class LocalActivityConfig(TypedDict, total=False):
    """Options of `start_local_activity` / `execute_local_activity` (and their forms)."""

    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: timedelta | None
    cancellation_type: ActivityCancellationType
    activity_id: str | None
    summary: str | None


def start_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> ActivityHandle[Any]:
    """Start the activity defined by a method (`MyActivities.charge`, unbound)."""
    return start_activity(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


async def execute_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> Any:
    """`start_activity_method` and wait for the result."""
    return await start_activity_method(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


def start_activity_class(
    activity: type[Callable[..., Any]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> ActivityHandle[Any]:
    """Start the activity defined by a callable class (`@activity.defn` on the class)."""
    return start_activity_method(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


async def execute_activity_class(
    activity: type[Callable[..., Any]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> Any:
    """`start_activity_class` and wait for the result."""
    return await start_activity_class(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


def start_local_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> ActivityHandle[Any]:
    """Run the activity defined by a method as a local activity."""
    return start_local_activity(
        activity,
        arg,
        args=args,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )


async def execute_local_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> Any:
    """`start_local_activity_method` and wait for the result."""
    return await start_local_activity_method(
        activity,
        arg,
        args=args,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )


def start_local_activity_class(
    activity: type[Callable[..., Any]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> ActivityHandle[Any]:
    """Run the activity defined by a callable class as a local activity."""
    return start_local_activity_method(
        activity,
        arg,
        args=args,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )


async def execute_local_activity_class(
    activity: type[Callable[..., Any]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = _TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> Any:
    """`start_local_activity_class` and wait for the result."""
    return await start_local_activity_class(
        activity,
        arg,
        args=args,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )
