"""Activity side of the SDK (mirrors temporalio.activity).

`@activity.defn` only records a definition on the function; the worker runs it and sets the
per-attempt context (`_set_context`) that `info()`/`heartbeat()` read. The context is a ContextVar
so concurrent activities in one worker each see their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import logging
import threading
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar, overload

from .common import Priority, RetryPolicy

__all__ = [
    "ActivityDefinition",
    "Info",
    "defn",
    "get_definition",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "logger",
    "raise_complete_async",
    "wait_for_cancelled",
    "wait_for_cancelled_sync",
]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])

_DEFN_ATTR = "__tidal_activity_definition__"


@dataclass(frozen=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None
    ret_type: Any


def _type_hints(fn: Callable[..., Any], *, skip_self: bool = False) -> tuple[list[Any] | None, Any]:
    """Argument and return hints of `fn`; `None` where they cannot be resolved (e.g. local types),
    in which case values are passed as plain JSON."""
    try:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters.values())
    except Exception:
        return None, None
    if skip_self and params:
        params = params[1:]
    args = [
        hints.get(p.name)
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return args, hints.get("return")


@overload
def defn(fn: CallableT) -> CallableT: ...


@overload
def defn(*, name: str | None = None) -> Callable[[CallableT], CallableT]: ...


def defn(fn: CallableT | None = None, *, name: str | None = None) -> Any:
    """Mark a function as an activity, optionally with a different registered name."""

    def decorate(f: CallableT) -> CallableT:
        # A callable class (temporalio's activity classes): its `__call__` says what it takes.
        call = f.__call__ if inspect.isclass(f) else f
        arg_types, ret_type = _type_hints(call, skip_self=inspect.isclass(f))
        defn_ = ActivityDefinition(
            name=name or str(getattr(f, "__name__", type(f).__name__)),
            fn=f,
            is_async=inspect.iscoroutinefunction(call),
            arg_types=arg_types,
            ret_type=ret_type,
        )
        setattr(f, _DEFN_ATTR, defn_)
        return f

    return decorate(fn) if fn is not None else decorate


def get_definition(fn: Callable[..., Any]) -> ActivityDefinition:
    """The definition `@activity.defn` recorded on `fn`; TypeError if it has none."""
    defn_ = getattr(fn, _DEFN_ATTR, None)
    if not isinstance(defn_, ActivityDefinition):
        raise TypeError(f"{fn!r} is not an activity: decorate it with @activity.defn")
    if inspect.ismethod(fn):
        # A method of an instance registered as `activities=[obj.method]` (temporalio's activity
        # classes, holding a client or a connection): the worker must call it bound, and `self`
        # is no argument to decode.
        arg_types, ret_type = _type_hints(fn.__func__, skip_self=True)
        return dataclasses.replace(defn_, fn=fn, arg_types=arg_types, ret_type=ret_type)
    if not inspect.isclass(fn) and inspect.isclass(defn_.fn) and isinstance(fn, defn_.fn):
        # An instance of a callable activity class, registered as `activities=[MyActivity(...)]`:
        # the worker calls the instance, not the class.
        return dataclasses.replace(defn_, fn=fn)
    return defn_


@dataclass(frozen=True)
class Info:
    activity_id: str
    activity_type: str
    attempt: int
    workflow_id: str
    workflow_run_id: str
    workflow_type: str
    workflow_namespace: str
    task_queue: str
    scheduled_time: datetime
    current_attempt_scheduled_time: datetime
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    heartbeat_details: Sequence[Any]
    is_local: bool = False
    # Addresses this attempt from outside the worker (`Client.get_async_activity_handle`).
    task_token: bytes = b""
    schedule_to_start_timeout: timedelta | None = None
    priority: Priority = Priority.default
    retry_policy: RetryPolicy | None = None
    namespace: str = ""
    started_time: datetime | None = None

    @property
    def in_workflow(self) -> bool:
        """Scheduled by a workflow (always, in Tidal: there are no client-started activities)."""
        return bool(self.workflow_id)


@dataclass
class _Context:
    """What the worker provides to a running activity attempt. `cancel()` is called on the
    worker's event loop; the activity may read the state from any thread."""

    info: Info
    heartbeat: Callable[..., None] | None = None
    cancelled: bool = False
    cancelled_event: threading.Event = field(default_factory=threading.Event)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True
        self.cancelled_event.set()
        for fut in self._waiters:
            if not fut.done():
                fut.get_loop().call_soon_threadsafe(_resolve, fut)
        self._waiters.clear()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _CompleteAsyncError(BaseException):
    """Raised by `raise_complete_async()`: the worker reports nothing and the attempt is completed
    later through `Client.get_async_activity_handle(task_token=...)`. A BaseException so that
    `except Exception` in activity code does not swallow it (as in temporalio)."""


_current: contextvars.ContextVar[_Context | None] = contextvars.ContextVar("tidal_activity", default=None)


def _set_context(ctx: _Context) -> contextvars.Token[_Context | None]:
    """Called by the worker around an activity attempt; reset with `_reset_context(token)`."""
    return _current.set(ctx)


def _reset_context(token: contextvars.Token[_Context | None]) -> None:
    _current.reset(token)


def _context() -> _Context:
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("Not in activity context")
    return ctx


def in_activity() -> bool:
    return _current.get() is not None


def info() -> Info:
    return _context().info


def heartbeat(*details: Any) -> None:
    """Report progress (and details a retry can resume from, as `info().heartbeat_details`).
    Cheap to call often: the worker sends at most one heartbeat per 80% of the heartbeat timeout
    (30 s without one), always the latest details. Safe from sync activities' threads."""
    hook = _context().heartbeat
    if hook is not None:
        hook(*details)


def is_cancelled() -> bool:
    """Cancellation was requested (learnt from a heartbeat reply: activities that want to be
    cancellable must heartbeat) or the attempt is no longer current (timed out)."""
    return _context().cancelled


async def wait_for_cancelled() -> None:
    """Wait until the activity is cancelled (see `is_cancelled`)."""
    ctx = _context()
    if ctx.cancelled:
        return
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ctx._waiters.append(fut)
    await fut


def wait_for_cancelled_sync(timeout: timedelta | float | None = None) -> None:
    """For sync activities: block until cancelled, or until `timeout` passes."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    _context().cancelled_event.wait(seconds)


def raise_complete_async() -> NoReturn:
    """End the attempt without a result: it is completed (or failed, or heartbeated) later by
    anyone holding `info().task_token`, through `Client.get_async_activity_handle`."""
    _context()  # only meaningful inside an activity
    raise _CompleteAsyncError()


class _ActivityLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Appends the current activity's identity to each message (as temporalio's adapter does)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        ctx = _current.get()
        if ctx is not None:
            i = ctx.info
            extra = {"activity_id": i.activity_id, "activity_type": i.activity_type, "attempt": i.attempt}
            extra |= {"workflow_id": i.workflow_id, "workflow_run_id": i.workflow_run_id}
            kwargs.setdefault("extra", {}).update(extra)
            msg = f"{msg} ({extra})"
        return msg, kwargs


logger = _ActivityLoggerAdapter(logging.getLogger("tidal.activity"), {})
