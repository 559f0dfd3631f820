"""Activities and local activities from workflow code: part of `tidal.workflow`'s API
(re-exported there; mirrors temporalio.workflow)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Any, TypeVar, overload

from . import activity as _activity
from ._workflow_context import _MISSING, _rt
from ._workflow_interceptors import StartActivityInput, StartLocalActivityInput
from .common import Priority, RetryPolicy

__all__ = [
    "ActivityCancellationType",
    "ActivityHandle",
    "execute_activity",
    "execute_local_activity",
    "start_activity",
    "start_local_activity",
]

ReturnT = TypeVar("ReturnT")


class ActivityCancellationType(IntEnum):
    """What cancelling an activity handle does (temporalio's enum, same members).

    TRY_CANCEL: ask the server to cancel and raise at once. WAIT_CANCELLATION_COMPLETED: ask, and
    wait until the activity reports it stopped (or finishes anyway). ABANDON: do not tell the
    server; the activity runs on, unwatched."""

    TRY_CANCEL = 0
    WAIT_CANCELLATION_COMPLETED = 1
    ABANDON = 2


class ActivityHandle(asyncio.Task[ReturnT]):
    """The running activity, as an asyncio Task: await it for the result, `cancel()` it to
    request cancellation (try-cancel: the workflow sees CancelledError at once)."""


def _activity_name(activity: Callable[..., Any] | str) -> tuple[str, Any]:
    if isinstance(activity, str):
        return activity, None
    d = _activity.get_definition(activity)
    return d.name, d.ret_type


@overload
def start_activity(
    activity: Callable[..., Awaitable[ReturnT]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ActivityHandle[ReturnT]: ...


@overload
def start_activity(
    activity: Callable[..., ReturnT],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ActivityHandle[ReturnT]: ...


@overload
def start_activity(
    activity: str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ActivityHandle[Any]: ...


def start_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ActivityHandle[Any]:
    """Schedule an activity and return its handle without waiting for it."""
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        raise ValueError("start_activity needs start_to_close_timeout or schedule_to_close_timeout")
    if arg is not _MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        args = [arg]
    name, hinted = _activity_name(activity)
    return _rt().outbound.start_activity(
        StartActivityInput(
            activity=name,
            args=list(args),
            activity_id=activity_id,
            task_queue=task_queue,
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            start_to_close_timeout=start_to_close_timeout,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy,
            cancellation_type=cancellation_type,
            headers={},
            disable_eager_execution=False,
            versioning_intent=None,
            summary=summary,
            priority=priority,
            arg_types=None,
            ret_type=result_type if result_type is not None else hinted,
        )
    )


@overload
async def execute_activity(
    activity: Callable[..., Awaitable[ReturnT]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ReturnT: ...


@overload
async def execute_activity(
    activity: Callable[..., ReturnT],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> ReturnT: ...


@overload
async def execute_activity(
    activity: str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    priority: Priority = Priority.default,
    summary: str | None = None,
) -> Any: ...


async def execute_activity(activity: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """Schedule an activity and wait for its result; failures raise `ActivityError`."""
    return await start_activity(activity, arg, **kwargs)


def start_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> ActivityHandle[Any]:
    """Run an activity in this worker, inside the current workflow task, and record its outcome
    as a marker (replay reads the marker instead of running it again). The activity must be
    registered on the worker and should finish well within the workflow task timeout; retries
    happen in the worker (see docs/activities.md). `schedule_to_start_timeout` and
    `cancellation_type` are accepted for compatibility: a cancelled handle raises at once and the
    running activity is not interrupted."""
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        raise ValueError("start_local_activity needs start_to_close_timeout or schedule_to_close_timeout")
    if arg is not _MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        args = [arg]
    name, hinted = _activity_name(activity)
    return _rt().outbound.start_local_activity(
        StartLocalActivityInput(
            activity=name,
            args=list(args),
            activity_id=activity_id,
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            start_to_close_timeout=start_to_close_timeout,
            retry_policy=retry_policy,
            local_retry_threshold=local_retry_threshold,
            cancellation_type=cancellation_type,
            headers={},
            summary=summary,
            ret_type=result_type if result_type is not None else hinted,
        )
    )


async def execute_local_activity(activity: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """`start_local_activity` and wait for the result; failures raise `ActivityError`."""
    return await start_local_activity(activity, arg, **kwargs)
