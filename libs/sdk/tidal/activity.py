"""Activity side of the SDK (mirrors temporalio.activity).

`@activity.defn` only records a definition on the function; the worker runs it and sets the
per-attempt context (`_set_context`) that `info()`/`heartbeat()` read. The context is a ContextVar
so concurrent activities in one worker each see their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import logging
import threading
import typing
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from .common import MetricMeter, Priority, RawValue, RetryPolicy

if TYPE_CHECKING:
    from ._activity_process import ProcessRun
    from ._interceptors import ActivityOutboundInterceptor
    from ._payload_converter import PayloadConverter
    from .client import Client

__all__ = [
    "ActivityCancellationDetails",
    "ActivityDefinition",
    "Info",
    "LoggerAdapter",
    "cancellation_details",
    "client",
    "defn",
    "get_definition",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "is_worker_shutdown",
    "logger",
    "metric_meter",
    "payload_converter",
    "raise_complete_async",
    "shield_thread_cancel_exception",
    "wait_for_cancelled",
    "wait_for_cancelled_sync",
    "wait_for_worker_shutdown",
    "wait_for_worker_shutdown_sync",
]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])

_DEFN_ATTR = "__tidal_activity_definition__"
_DYNAMIC = ""
"""The registered name of a worker's dynamic activity (activity type names are never empty)."""


@dataclass(frozen=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None
    ret_type: Any
    # Runs every activity type the worker has no activity of its own for, with the arguments
    # unconverted (`Sequence[RawValue]`).
    dynamic: bool = False
    no_thread_cancel_exception: bool = False

    def arguments(self, payloads: Sequence[Any], convert: Callable[..., list[Any]]) -> list[Any]:
        """The call's arguments from the task's payloads (`convert`: the data converter's
        `from_payloads`); a dynamic activity gets them as one sequence of `RawValue`s."""
        if self.dynamic:
            return [[RawValue(p) for p in payloads]]
        return convert(payloads, self.arg_types)


def _lookup(activities: Mapping[str, ActivityDefinition], activity_type: str) -> ActivityDefinition | None:
    """The activity a worker runs for `activity_type`: its own, else its dynamic one."""
    return activities.get(activity_type) or activities.get(_DYNAMIC)


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
def defn(
    *, name: str | None = None, no_thread_cancel_exception: bool = False, dynamic: bool = False
) -> Callable[[CallableT], CallableT]: ...


def defn(
    fn: CallableT | None = None,
    *,
    name: str | None = None,
    no_thread_cancel_exception: bool = False,
    dynamic: bool = False,
) -> Any:
    """Mark a function as an activity, optionally with a different registered name.

    `dynamic=True` (no name): the worker runs it for every activity type it has no activity of
    its own for; it takes one argument, the arguments unconverted (`Sequence[RawValue]`), and
    reads the type from `activity.info().activity_type`. `no_thread_cancel_exception` is
    accepted for temporalio's code: Tidal never raises cancellation inside a sync activity's
    thread, so every activity behaves as if it were set."""
    if dynamic and name:
        raise ValueError("a dynamic activity has no name: it runs every unregistered activity type")

    def decorate(f: CallableT) -> CallableT:
        # A callable class (temporalio's activity classes): its `__call__` says what it takes.
        call = f.__call__ if inspect.isclass(f) else f
        arg_types, ret_type = _type_hints(call, skip_self=inspect.isclass(f))
        defn_ = ActivityDefinition(
            name=_DYNAMIC if dynamic else name or str(getattr(f, "__name__", type(f).__name__)),
            fn=f,
            is_async=inspect.iscoroutinefunction(call),
            arg_types=arg_types,
            ret_type=ret_type,
            dynamic=dynamic,
            no_thread_cancel_exception=no_thread_cancel_exception,
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
    """The running attempt, as temporalio's (same fields in the same order; build it with
    keywords)."""

    activity_id: str
    activity_type: str
    attempt: int
    current_attempt_scheduled_time: datetime
    heartbeat_details: Sequence[Any]
    heartbeat_timeout: timedelta | None
    is_local: bool
    namespace: str
    schedule_to_close_timeout: timedelta | None
    scheduled_time: datetime
    start_to_close_timeout: timedelta | None
    started_time: datetime
    task_queue: str
    # Addresses this attempt from outside the worker (`Client.get_async_activity_handle`).
    task_token: bytes
    workflow_id: str
    workflow_namespace: str
    workflow_run_id: str
    workflow_type: str
    priority: Priority
    retry_policy: RetryPolicy | None
    # Temporal's standalone activities (started by a client) have one; Tidal's activities are all
    # scheduled by workflows, so it is None.
    activity_run_id: str | None = None
    schedule_to_start_timeout: timedelta | None = field(default=None, kw_only=True)

    @property
    def in_workflow(self) -> bool:
        """Scheduled by a workflow (always, in Tidal: there are no client-started activities)."""
        return bool(self.workflow_id)


@dataclass(frozen=True)
class ActivityCancellationDetails:
    """Why the attempt was cancelled (`cancellation_details()`), as temporalio's: set once."""

    not_found: bool = False
    """The attempt is no longer current: it timed out, or the activity or its run is gone."""
    cancel_requested: bool = False
    """The workflow asked to cancel the activity (or was itself cancelled)."""
    paused: bool = False
    reset: bool = False
    timed_out: bool = False
    worker_shutdown: bool = False
    """The worker is shutting down past its graceful shutdown timeout."""


@dataclass
class _Context:
    """What the worker provides to a running activity attempt. `cancel()` and
    `worker_shutdown()` are called on the worker's event loop; the activity may read the state
    from any thread."""

    info: Info
    heartbeat: Callable[..., None] | None = None
    # The worker interceptors' outbound chain that info() and heartbeat() go through.
    outbound: ActivityOutboundInterceptor | None = None
    client: Client | None = None
    # The worker's, with this attempt's serialization context (None: the default converter).
    payload_converter: PayloadConverter | None = None
    # Set when a sync activity runs in another process (a process pool): how to run it there.
    process: ProcessRun | None = None
    cancelled: bool = False
    cancelled_event: threading.Event = field(default_factory=threading.Event)
    cancellation_details: ActivityCancellationDetails | None = None
    shutdown_event: threading.Event = field(default_factory=threading.Event)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)
    _shutdown_waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def cancel(self, details: ActivityCancellationDetails | None = None) -> None:
        if self.cancellation_details is None:
            self.cancellation_details = details
        self.cancelled = True
        self.cancelled_event.set()
        _wake(self._waiters)

    def worker_shutdown(self) -> None:
        self.shutdown_event.set()
        _wake(self._shutdown_waiters)


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():
            fut.get_loop().call_soon_threadsafe(_resolve, fut)
    waiters.clear()


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
    ctx = _context()
    return ctx.outbound.info() if ctx.outbound is not None else ctx.info


def metric_meter() -> MetricMeter:
    """A meter whose metrics land in the worker's Prometheus registry (its `/metrics` with
    `Worker(metrics_port=...)`), labelled with the namespace, task queue and activity type."""
    from ._prometheus_metrics import PrometheusMeter  # local: prometheus only once metrics are used

    i = _context().info
    return PrometheusMeter(
        {"namespace": i.workflow_namespace, "task_queue": i.task_queue, "activity_type": i.activity_type}
    )


def client() -> Client:
    """The client of the worker running this activity (temporalio's `activity.client()`), e.g. to
    signal or start workflows. RuntimeError outside an activity, and in local activities, which
    run inside a workflow task and have none (as in temporalio)."""
    c = _context().client
    if c is None:
        raise RuntimeError("No client available: local activities have none")
    return c


def payload_converter() -> PayloadConverter:
    """The worker's payload converter with this attempt's serialization context, as temporalio's:
    what a dynamic activity uses to turn its `RawValue` arguments into values."""
    conv = _context().payload_converter
    if conv is None:
        from .converter import DataConverter  # local: the converter module only when asked for

        return DataConverter.default.payload_converter
    return conv


def cancellation_details() -> ActivityCancellationDetails | None:
    """Why the attempt was cancelled; None while it is not."""
    return _context().cancellation_details


def is_worker_shutdown() -> bool:
    """The worker running this attempt has begun shutting down (`Worker.shutdown()`): finish or
    save progress within its `graceful_shutdown_timeout`, after which the attempt is cancelled."""
    return _context().shutdown_event.is_set()


async def wait_for_worker_shutdown() -> None:
    """Wait until the worker begins shutting down (see `is_worker_shutdown`)."""
    ctx = _context()
    if ctx.shutdown_event.is_set():
        return
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ctx._shutdown_waiters.append(fut)
    await fut


def wait_for_worker_shutdown_sync(timeout: timedelta | float | None = None) -> None:
    """For sync activities: block until the worker begins shutting down, or `timeout` passes."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    _context().shutdown_event.wait(seconds)


def heartbeat(*details: Any) -> None:
    """Report progress (and details a retry can resume from, as `info().heartbeat_details`).
    Cheap to call often: the worker sends at most one heartbeat per 80% of the heartbeat timeout
    (30 s without one), always the latest details. Safe from sync activities' threads."""
    ctx = _context()
    if ctx.outbound is not None:
        ctx.outbound.heartbeat(*details)
    elif ctx.heartbeat is not None:
        ctx.heartbeat(*details)


def is_cancelled() -> bool:
    """Cancellation was requested (learnt from a heartbeat reply: activities that want to be
    cancellable must heartbeat) or the attempt is no longer current (timed out)."""
    ctx = _context()
    # In a process-pool activity only the (cross-process) event tells.
    return ctx.cancelled or ctx.cancelled_event.is_set()


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


@contextlib.contextmanager
def shield_thread_cancel_exception() -> Iterator[None]:
    """Temporalio's guard around code a thread-raised cancellation must not interrupt. Tidal never
    raises cancellation into a sync activity's thread (it sets `is_cancelled()`), so the block
    always runs to its end; the guard is kept so that such code ports unchanged."""
    yield


def raise_complete_async() -> NoReturn:
    """End the attempt without a result: it is completed (or failed, or heartbeated) later by
    anyone holding `info().task_token`, through `Client.get_async_activity_handle`."""
    _context()  # only meaningful inside an activity
    raise _CompleteAsyncError()


class LoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the running activity's identity to each record, as temporalio's adapter: appended to
    the message (`activity_info_on_message`), as `extra["temporal_activity"]` and as flat
    `extra` keys (`activity_info_on_extra`), the whole `Info` as `extra["activity_info"]`
    (`full_activity_info_on_extra`, off by default). Outside an activity it adds nothing."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        super().__init__(logger, extra or {})
        self.activity_info_on_message = True
        self.activity_info_on_extra = True
        self.full_activity_info_on_extra = False

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        ctx = _current.get()
        if ctx is None:
            return msg, kwargs
        i = ctx.info
        details = {"activity_id": i.activity_id, "activity_type": i.activity_type, "attempt": i.attempt}
        details |= {"workflow_id": i.workflow_id, "workflow_run_id": i.workflow_run_id}
        if self.activity_info_on_message:
            msg = f"{msg} ({details})"
        if self.activity_info_on_extra or self.full_activity_info_on_extra:
            extra = dict(kwargs.get("extra") or {})  # the caller's dict is not changed
            if self.activity_info_on_extra:
                extra |= details
                extra["temporal_activity"] = details
            if self.full_activity_info_on_extra:
                extra["activity_info"] = i
            kwargs["extra"] = extra
        return msg, kwargs

    @property
    def base_logger(self) -> logging.Logger:
        """The underlying logger (for handlers and formatters)."""
        return typing.cast(logging.Logger, self.logger)


logger = LoggerAdapter(logging.getLogger("tidal.activity"), None)
