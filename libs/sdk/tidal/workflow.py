"""Workflow side of the SDK (mirrors temporalio.workflow).

Decorators record definitions on classes and methods. The functions below (`execute_activity`,
`sleep`, `now`, ...) only work inside workflow code: they find the running `WorkflowInstance`
through the running event loop, which during an activation is the instance's deterministic loop.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random_mod
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from tidal_schema import Payload

from . import activity as _activity
from ._definitions import _SIGNAL_ATTR as _SIGNAL_ATTR  # used by _children
from ._definitions import DYNAMIC_SIGNAL as DYNAMIC_SIGNAL
from ._definitions import QueryDefinition as QueryDefinition
from ._definitions import SignalDefinition as SignalDefinition
from ._definitions import UpdateDefinition as UpdateDefinition
from ._definitions import WorkflowDefinition as WorkflowDefinition
from ._definitions import defn as defn
from ._definitions import get_definition as get_definition
from ._definitions import query as query
from ._definitions import run as run
from ._definitions import signal as signal
from ._definitions import update as update
from ._search_attributes import SearchAttributeUpdate, TypedSearchAttributes
from ._visibility import encode_search_attributes
from ._waiting import ALL_COMPLETED as ALL_COMPLETED  # deterministic asyncio.wait & co, re-exported
from ._waiting import FIRST_COMPLETED as FIRST_COMPLETED
from ._waiting import FIRST_EXCEPTION as FIRST_EXCEPTION
from ._waiting import as_completed as as_completed
from ._waiting import wait as wait
from ._workflow_metrics import metric_meter as metric_meter
from .common import Priority, RetryPolicy
from .exceptions import NondeterminismError as NondeterminismError  # where temporalio has it

__all__ = [
    "ALL_COMPLETED",
    "DYNAMIC_SIGNAL",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ActivityCancellationType",
    "ActivityHandle",
    "ChildWorkflowCancellationType",
    "ChildWorkflowHandle",
    "ContinueAsNewError",
    "ExternalWorkflowHandle",
    "Info",
    "NondeterminismError",
    "ParentClosePolicy",
    "ParentInfo",
    "QueryDefinition",
    "SignalDefinition",
    "UpdateDefinition",
    "WorkflowDefinition",
    "all_handlers_finished",
    "as_completed",
    "cancellation_reason",
    "continue_as_new",
    "defn",
    "deprecate_patch",
    "execute_activity",
    "execute_child_workflow",
    "execute_local_activity",
    "get_definition",
    "get_external_workflow_handle",
    "get_external_workflow_handle_for",
    "in_workflow",
    "info",
    "instance",
    "logger",
    "memo",
    "memo_value",
    "metric_meter",
    "now",
    "patched",
    "payload_converter",
    "query",
    "random",
    "run",
    "signal",
    "sleep",
    "start_activity",
    "start_child_workflow",
    "start_local_activity",
    "time",
    "time_ns",
    "unsafe",
    "update",
    "upsert_search_attributes",
    "uuid4",
    "wait",
    "wait_condition",
]

if TYPE_CHECKING:
    from ._runtime.instance import WorkflowInstance
    from .converter import DataConverter

ClassT = TypeVar("ClassT", bound=type)
CallableT = TypeVar("CallableT", bound=Callable[..., Any])
ReturnT = TypeVar("ReturnT")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


# --- info -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentInfo:
    """The workflow that started this one as a child."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class Info:
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    run_timeout: timedelta | None
    execution_timeout: timedelta | None
    task_timeout: timedelta
    parent: ParentInfo | None = None
    continued_run_id: str | None = None  # the run this one continued from (continue-as-new)
    # The start's memo, still encoded: read it with `workflow.memo()` / `workflow.memo_value()`.
    raw_memo: Mapping[str, Payload] = field(default_factory=dict, repr=False)
    # From the start event, as temporalio's: the chain's first run (continue-as-new and retries
    # keep it), the run this attempt chain began with, the cron schedule and the retry policy.
    first_execution_run_id: str = ""
    original_execution_run_id: str = ""
    cron_schedule: str | None = None
    retry_policy: RetryPolicy | None = None
    priority: Priority = Priority.default
    # Name -> JSON value: the start's search attributes with this run's upserts applied so far.
    search_attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        return TypedSearchAttributes.from_json(self.search_attributes)

    def get_current_history_length(self) -> int:
        """Events in history as of the current workflow task, as temporalio's. Tidal writes a
        task's `WorkflowTaskStarted` with its outcome, so this counts up to the task's
        `WorkflowTaskScheduled` (one event fewer than Temporal) and is the same on replay."""
        return _rt().current_history_length


# --- runtime access -------------------------------------------------------------------------


def _rt() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    instance = getattr(loop, "tidal_instance", None)
    if instance is None:
        raise RuntimeError("Not in workflow event loop: this function only works inside workflow code")
    return instance  # type: ignore[no-any-return]


def in_workflow() -> bool:
    try:
        _rt()
    except RuntimeError:
        return False
    return True


def payload_converter() -> DataConverter:
    """The worker's data converter (e.g. to convert a dynamic signal's `RawValue`s)."""
    return _rt().converter


def memo() -> dict[str, Any]:
    """The memo given at start (values as JSON-compatible Python), as temporalio's."""
    conv = _rt().converter
    return {k: conv.from_payload(p) for k, p in info().raw_memo.items()}


def memo_value(key: str, default: Any = _MISSING, *, type_hint: Any = None) -> Any:
    """One memo value, converted to `type_hint`; KeyError without a default, as temporalio."""
    payload = info().raw_memo.get(key)
    if payload is None:
        if default is _MISSING:
            raise KeyError(f"memo has no key {key!r}")
        return default
    return _rt().converter.from_payload(payload, type_hint)


def info() -> Info:
    return _rt().info


def cancellation_reason() -> str | None:
    """The reason given with the request that cancelled this workflow (`WorkflowHandle.cancel(
    reason=...)`; an empty string when none was given), or None if no cancellation was requested:
    tells a workflow-level cancel from an inner task's `asyncio.CancelledError`, as temporalio's."""
    return _rt().cancellation_reason


def instance() -> Any:
    """The running workflow's object (the instance of the `@workflow.defn` class), as
    temporalio's. None before the run starts (in a query on a run not yet started)."""
    return _rt().workflow_object


def all_handlers_finished() -> bool:
    """No signal or update handler is still running: wait for it before returning from `run`
    (`await workflow.wait_condition(workflow.all_handlers_finished)`), as in temporalio."""
    return not _rt().running_handlers


def now() -> datetime:
    """Workflow time: the scheduled time of the current workflow task (UTC), equal on replay."""
    return _rt().now()


def time() -> float:
    """`now()` as seconds since the epoch."""
    return _rt().now().timestamp()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_ns() -> int:
    """`now()` as nanoseconds since the epoch (exact, no float rounding), as temporalio's."""
    return (_rt().now() - _EPOCH) // timedelta(microseconds=1) * 1000


def random() -> _random_mod.Random:
    """A `random.Random` seeded per run, so replays draw the same numbers."""
    return _rt().random


def uuid4() -> uuid.UUID:
    return uuid.UUID(int=_rt().random.getrandbits(128), version=4)


def patched(id: str) -> bool:
    """True on new code paths; False when replaying history recorded before the patch."""
    return _rt().patch(id, deprecated=False)


def deprecate_patch(id: str) -> None:
    """Once no run predating `patched(id)` remains, keep only the new branch and call this."""
    _rt().patch(id, deprecated=True)


class unsafe:  # lower case: mirrors temporalio.workflow.unsafe
    @staticmethod
    def is_replaying() -> bool:
        return _rt().is_replaying


async def sleep(duration: float | timedelta) -> None:
    """A durable timer. `asyncio.sleep` in workflow code is durable too (the loop's call_later)."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    await asyncio.sleep(seconds)


async def wait_condition(
    fn: Callable[[], bool],
    *,
    timeout: float | timedelta | None = None,
) -> None:
    """Wait until `fn()` is true (checked whenever workflow code goes idle). On timeout raises
    `asyncio.TimeoutError`, like temporalio."""
    fut = _rt().add_condition(fn)
    if timeout is None:
        await fut
        return
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    await asyncio.wait_for(fut, seconds)


# --- activities -----------------------------------------------------------------------------


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
) -> ActivityHandle[Any]:
    """Schedule an activity and return its handle without waiting for it."""
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        raise ValueError("start_activity needs start_to_close_timeout or schedule_to_close_timeout")
    if arg is not _MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        args = [arg]
    name, hinted = _activity_name(activity)
    return _rt().start_activity(
        activity_type=name,
        args=list(args),
        task_queue=task_queue,
        result_type=result_type if result_type is not None else hinted,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        activity_id=activity_id,
        cancellation_type=cancellation_type,
        priority=priority,
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
) -> Any: ...


async def execute_activity(activity: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """Schedule an activity and wait for its result; failures raise `ActivityError`."""
    return await start_activity(activity, arg, **kwargs)


# --- local activities -----------------------------------------------------------------------


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
    rt = _rt()
    fut = rt.start_local_activity(
        activity_type=name,
        args=list(args),
        result_type=result_type if result_type is not None else hinted,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        retry_policy=retry_policy.to_schema() if retry_policy else None,
        local_retry_threshold=local_retry_threshold,
        activity_id=activity_id,
    )

    async def wait() -> Any:
        return await fut

    return ActivityHandle(wait(), loop=rt._loop, name=f"local_activity:{name}")


async def execute_local_activity(activity: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """`start_local_activity` and wait for the result; failures raise `ActivityError`."""
    return await start_local_activity(activity, arg, **kwargs)


# --- continue-as-new ------------------------------------------------------------------------


class ContinueAsNewError(BaseException):
    """Raised by `continue_as_new`; a BaseException so `except Exception` in workflow code does not
    swallow it. The runtime turns it into a ContinueAsNewWorkflowExecution command."""

    def __init__(
        self,
        *,
        args: Sequence[Any],
        workflow: str | None,
        task_queue: str | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
    ) -> None:
        super().__init__("Continue as new")
        self.input_args = list(args)
        self.workflow = workflow
        self.task_queue = task_queue
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout


def continue_as_new(
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    workflow: type | str | None = None,
) -> NoReturn:
    """End this run and start a new one of the same workflow id with fresh history."""
    _rt()  # only meaningful inside workflow code
    if arg is not _MISSING:
        args = [arg]
    name = workflow if isinstance(workflow, str) or workflow is None else get_definition(workflow).name
    raise ContinueAsNewError(
        args=args, workflow=name, task_queue=task_queue, run_timeout=run_timeout, task_timeout=task_timeout
    )


def upsert_search_attributes(
    attributes: Sequence[SearchAttributeUpdate[Any]] | Mapping[str, Any],
) -> None:
    """Set (or unset) custom search attributes of this run, so lists can filter on them
    (`client.list_workflows("CustomerId = 'c-42'")`). As temporalio, a list of typed updates
    (`[CUSTOMER_ID.value_set("c-42"), PRIORITY.value_unset()]`); also a mapping of name to value
    (None removes it). Values: str (Keyword, or Text if registered so), int, float, bool, an aware
    datetime, or a list of str. Recorded as a command, so the change is durable and replays
    deterministically."""
    if isinstance(attributes, Mapping):
        pairs = dict(attributes)
    else:
        pairs = {u.key.name: u.value for u in attributes}
    for name, value in pairs.items():
        ok = isinstance(value, str | int | float | bool | datetime | None) or (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise TypeError(f"search attribute {name!r}: unsupported value type {type(value).__name__}")
    _rt().upsert_search_attributes(encode_search_attributes(pairs))


# --- logging --------------------------------------------------------------------------------


class _ReplaySafeLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the run's identity to records and drops them while replaying, so a replay does not
    log everything a second time."""

    def isEnabledFor(self, level: int) -> bool:
        try:
            if _rt().is_replaying:
                return False
        except RuntimeError:
            pass
        return super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        try:
            i = _rt().info
        except RuntimeError:
            return msg, kwargs
        extra = {"workflow_id": i.workflow_id, "run_id": i.run_id, "workflow_type": i.workflow_type}
        kwargs.setdefault("extra", {}).update(extra)
        return f"{msg} ({extra})", kwargs


logger = _ReplaySafeLoggerAdapter(logging.getLogger("tidal.workflow"), {})


# --- child and external workflows (in _children.py; part of this module's API) --------------

from . import _children  # noqa: E402 (it needs the definitions above)

ChildWorkflowCancellationType = _children.ChildWorkflowCancellationType
ChildWorkflowHandle = _children.ChildWorkflowHandle
ExternalWorkflowHandle = _children.ExternalWorkflowHandle
ParentClosePolicy = _children.ParentClosePolicy
execute_child_workflow = _children.execute_child_workflow
get_external_workflow_handle = _children.get_external_workflow_handle
get_external_workflow_handle_for = _children.get_external_workflow_handle_for
start_child_workflow = _children.start_child_workflow
