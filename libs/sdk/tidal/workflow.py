"""Workflow side of the SDK (mirrors temporalio.workflow).

Decorators record definitions on classes and methods. The functions below (`execute_activity`,
`sleep`, `now`, ...) only work inside workflow code: they find the running `WorkflowInstance`
through the running event loop, which during an activation is the instance's deterministic loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random as _random_mod
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from tidal_schema.commands import UpsertWorkflowSearchAttributesCommand

from . import activity as _activity
from ._visibility import encode_search_attributes
from ._waiting import ALL_COMPLETED as ALL_COMPLETED  # deterministic asyncio.wait & co, re-exported
from ._waiting import FIRST_COMPLETED as FIRST_COMPLETED
from ._waiting import FIRST_EXCEPTION as FIRST_EXCEPTION
from ._waiting import as_completed as as_completed
from ._waiting import wait as wait
from .activity import _type_hints
from .common import RetryPolicy

if TYPE_CHECKING:
    from ._runtime.instance import WorkflowInstance

ClassT = TypeVar("ClassT", bound=type)
CallableT = TypeVar("CallableT", bound=Callable[..., Any])
ReturnT = TypeVar("ReturnT")

_DEFN_ATTR = "__tidal_workflow_definition__"
_RUN_ATTR = "__tidal_workflow_run__"
_SIGNAL_ATTR = "__tidal_signal_name__"
_QUERY_ATTR = "__tidal_query_name__"
_UPDATE_ATTR = "__tidal_update_name__"
_VALIDATOR_ATTR = "__tidal_update_validator__"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


# --- definitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None


@dataclass(frozen=True)
class QueryDefinition:
    name: str
    fn: Callable[..., Any]
    arg_types: Sequence[Any] | None
    ret_type: Any


@dataclass(frozen=True)
class UpdateDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None
    ret_type: Any
    validator: Callable[..., Any] | None = None


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    cls: type
    run_fn: Callable[..., Coroutine[Any, Any, Any]]
    arg_types: Sequence[Any] | None
    ret_type: Any
    signals: Mapping[str, SignalDefinition] = field(default_factory=dict)
    queries: Mapping[str, QueryDefinition] = field(default_factory=dict)
    updates: Mapping[str, UpdateDefinition] = field(default_factory=dict)
    # Exceptions that fail the workflow instead of only its task (see `defn`).
    failure_exception_types: tuple[type[BaseException], ...] = ()

    @staticmethod
    def from_class(cls: type, name: str | None = None) -> WorkflowDefinition:
        run_fns: list[Callable[..., Any]] = []
        signals: dict[str, SignalDefinition] = {}
        queries: dict[str, QueryDefinition] = {}
        updates: dict[str, UpdateDefinition] = {}
        seen: set[str] = set()
        # Walk the MRO most-derived first so overrides win and inherited handlers still count.
        for klass in cls.__mro__:
            for attr, member in vars(klass).items():
                if attr in seen or not callable(member):
                    continue
                seen.add(attr)
                if getattr(member, _RUN_ATTR, False):
                    run_fns.append(member)
                if (sig := getattr(member, _SIGNAL_ATTR, None)) is not None:
                    if sig in signals:
                        raise ValueError(f"{cls.__qualname__}: two signal handlers named {sig!r}")
                    arg_types, _ = _type_hints(member, skip_self=True)
                    signals[sig] = SignalDefinition(
                        sig, member, inspect.iscoroutinefunction(member), arg_types
                    )
                if (q := getattr(member, _QUERY_ATTR, None)) is not None:
                    if q in queries:
                        raise ValueError(f"{cls.__qualname__}: two query handlers named {q!r}")
                    if inspect.iscoroutinefunction(member):
                        raise ValueError(f"{cls.__qualname__}.{attr}: queries must not be async")
                    arg_types, ret = _type_hints(member, skip_self=True)
                    queries[q] = QueryDefinition(q, member, arg_types, ret)
                if (u := getattr(member, _UPDATE_ATTR, None)) is not None:
                    if u in updates:
                        raise ValueError(f"{cls.__qualname__}: two update handlers named {u!r}")
                    arg_types, ret = _type_hints(member, skip_self=True)
                    validator = getattr(member, _VALIDATOR_ATTR, None)
                    updates[u] = UpdateDefinition(
                        u, member, inspect.iscoroutinefunction(member), arg_types, ret, validator
                    )
        if len(run_fns) != 1:
            raise ValueError(
                f"{cls.__qualname__}: a workflow needs exactly one @workflow.run method, found {len(run_fns)}"
            )
        run_fn = run_fns[0]
        if not inspect.iscoroutinefunction(run_fn):
            raise ValueError(f"{cls.__qualname__}.{run_fn.__name__}: @workflow.run must be an async def")
        arg_types, ret_type = _type_hints(run_fn, skip_self=True)
        return WorkflowDefinition(
            name=name or cls.__name__,
            cls=cls,
            run_fn=run_fn,
            arg_types=arg_types,
            ret_type=ret_type,
            signals=signals,
            queries=queries,
            updates=updates,
        )


@overload
def defn(cls: ClassT) -> ClassT: ...


@overload
def defn(
    *, name: str | None = None, failure_exception_types: Sequence[type[BaseException]] = ()
) -> Callable[[ClassT], ClassT]: ...


def defn(
    cls: ClassT | None = None,
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Any:
    """Mark a class as a workflow; validated now so mistakes surface at import, not at run time.

    As in temporalio, an exception from workflow code that is not a `FailureError` (e.g. a
    `KeyError`, or a `NondeterminismError` on replay) fails the *workflow task*, which is retried
    until the code is fixed; exceptions of a type in `failure_exception_types` fail the workflow
    instead."""

    def decorate(c: ClassT) -> ClassT:
        definition = WorkflowDefinition.from_class(c, name)
        if failure_exception_types:
            definition = dataclasses.replace(
                definition, failure_exception_types=tuple(failure_exception_types)
            )
        setattr(c, _DEFN_ATTR, definition)
        return c

    return decorate(cls) if cls is not None else decorate


def run(fn: CallableT) -> CallableT:
    setattr(fn, _RUN_ATTR, True)
    return fn


@overload
def signal(fn: CallableT) -> CallableT: ...


@overload
def signal(*, name: str | None = None) -> Callable[[CallableT], CallableT]: ...


def signal(fn: CallableT | None = None, *, name: str | None = None) -> Any:
    def decorate(f: CallableT) -> CallableT:
        setattr(f, _SIGNAL_ATTR, name or f.__name__)
        return f

    return decorate(fn) if fn is not None else decorate


@overload
def query(fn: CallableT) -> CallableT: ...


@overload
def query(*, name: str | None = None) -> Callable[[CallableT], CallableT]: ...


def query(fn: CallableT | None = None, *, name: str | None = None) -> Any:
    def decorate(f: CallableT) -> CallableT:
        setattr(f, _QUERY_ATTR, name or f.__name__)
        return f

    return decorate(fn) if fn is not None else decorate


@overload
def update(fn: CallableT) -> CallableT: ...


@overload
def update(*, name: str | None = None) -> Callable[[CallableT], CallableT]: ...


def update(fn: CallableT | None = None, *, name: str | None = None) -> Any:
    """An update handler (as temporalio's `@workflow.update`): may be async and change state.
    `@<handler>.validator` registers a sync validator that rejects an update by raising; a
    rejected update never reaches history."""

    def decorate(f: CallableT) -> CallableT:
        setattr(f, _UPDATE_ATTR, name or f.__name__)

        def validator(vfn: Callable[..., None]) -> Callable[..., None]:
            setattr(f, _VALIDATOR_ATTR, vfn)
            return vfn

        setattr(f, "validator", validator)  # noqa: B010 - a function attribute, as in temporalio
        return f

    return decorate(fn) if fn is not None else decorate


def get_definition(cls: type) -> WorkflowDefinition:
    """The definition `@workflow.defn` recorded on `cls`; TypeError if it has none."""
    defn_ = cls.__dict__.get(_DEFN_ATTR) if isinstance(cls, type) else None
    if not isinstance(defn_, WorkflowDefinition):
        raise TypeError(f"{cls!r} is not a workflow: decorate it with @workflow.defn")
    return defn_


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


def info() -> Info:
    return _rt().info


def now() -> datetime:
    """Workflow time: the scheduled time of the current workflow task (UTC), equal on replay."""
    return _rt().now()


def time() -> float:
    """`now()` as seconds since the epoch."""
    return _rt().now().timestamp()


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
) -> Any: ...


async def execute_activity(activity: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """Schedule an activity and wait for its result; failures raise `ActivityError`."""
    return await start_activity(activity, arg, **kwargs)


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


def upsert_search_attributes(attributes: Mapping[str, Any]) -> None:
    """Set (or, with a None value, remove) custom search attributes of this run, so lists can
    filter on them (`client.list_workflows("CustomerId = 'c-42'")`). Values: str (Keyword, or
    Text if registered so), int, float, bool or an aware datetime. Recorded as a command, so the
    change is durable and replays deterministically."""
    for name, value in attributes.items():
        if not isinstance(value, str | int | float | bool | datetime | None):
            raise TypeError(f"search attribute {name!r}: unsupported value type {type(value).__name__}")
    values = encode_search_attributes(attributes)
    _rt()._commands.append(UpsertWorkflowSearchAttributesCommand(search_attributes=values))


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
