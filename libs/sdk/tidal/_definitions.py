"""Workflow definitions: the decorators (`defn`, `run`, `signal`, `query`, `update`) and what
they record. Part of `tidal.workflow`'s API (re-exported there); separate to keep modules small."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ._workflow_handlers import DYNAMIC, HandlerUnfinishedPolicy
from .activity import _type_hints

ClassT = TypeVar("ClassT", bound=type)
CallableT = TypeVar("CallableT", bound=Callable[..., Any])

_DEFN_ATTR = "__tidal_workflow_definition__"
_RUN_ATTR = "__tidal_workflow_run__"
_SIGNAL_ATTR = "__tidal_signal_name__"
DYNAMIC_SIGNAL = DYNAMIC  # the key of the dynamic signal handler (signal names are never empty)
_QUERY_ATTR = "__tidal_query_name__"
_UPDATE_ATTR = "__tidal_update_name__"
_VALIDATOR_ATTR = "__tidal_update_validator__"
_OPTIONS_ATTR = "__tidal_handler_options__"  # (unfinished_policy, description)
_INIT_ATTR = "__tidal_workflow_init__"
_DYNAMIC_CONFIG_ATTR = "__tidal_workflow_dynamic_config__"
_WARN = HandlerUnfinishedPolicy.WARN_AND_ABANDON


# --- definitions ----------------------------------------------------------------------------


# A handler's `name` is "" (DYNAMIC) for a dynamic one, called as (name, args: Sequence[RawValue]).
# `is_method`: `fn` (and `validator`) take the workflow object first (decorated methods); handlers
# set at run time (`workflow.set_signal_handler` & co) are plain callables.


@dataclass(frozen=True)
class SignalDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None
    unfinished_policy: HandlerUnfinishedPolicy = _WARN
    description: str | None = None
    is_method: bool = True

    @property
    def dynamic(self) -> bool:
        return self.name == DYNAMIC


@dataclass(frozen=True)
class QueryDefinition:
    name: str
    fn: Callable[..., Any]
    arg_types: Sequence[Any] | None
    ret_type: Any
    description: str | None = None
    is_method: bool = True

    @property
    def dynamic(self) -> bool:
        return self.name == DYNAMIC


@dataclass(frozen=True)
class UpdateDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: Sequence[Any] | None
    ret_type: Any
    validator: Callable[..., Any] | None = None
    unfinished_policy: HandlerUnfinishedPolicy = _WARN
    description: str | None = None
    is_method: bool = True

    @property
    def dynamic(self) -> bool:
        return self.name == DYNAMIC


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
    # Runs every workflow type no other registered definition has; `run(self, args:
    # Sequence[RawValue])`. Its `name` is "" (DYNAMIC).
    dynamic: bool = False
    # `@workflow.init`: `__init__` takes the run's arguments too.
    init_takes_args: bool = False
    # `@workflow.dynamic_config` (dynamic workflows only): called on the new object, before run.
    dynamic_config_fn: Callable[[Any], DynamicWorkflowConfig] | None = None

    @staticmethod
    def from_class(cls: type, name: str | None = None) -> WorkflowDefinition:
        run_fns: list[Callable[..., Any]] = []
        config_fns: list[Callable[..., Any]] = []
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
                if getattr(member, _DYNAMIC_CONFIG_ATTR, False):
                    config_fns.append(member)
                if (sig := getattr(member, _SIGNAL_ATTR, None)) is not None:
                    if sig in signals:
                        raise ValueError(f"{cls.__qualname__}: two signal handlers named {sig!r}")
                    arg_types, _ = _type_hints(member, skip_self=True)
                    policy, description = getattr(member, _OPTIONS_ATTR, (_WARN, None))
                    signals[sig] = SignalDefinition(
                        sig, member, inspect.iscoroutinefunction(member), arg_types, policy, description
                    )
                if (q := getattr(member, _QUERY_ATTR, None)) is not None:
                    if q in queries:
                        raise ValueError(f"{cls.__qualname__}: two query handlers named {q!r}")
                    if inspect.iscoroutinefunction(member):
                        raise ValueError(f"{cls.__qualname__}.{attr}: queries must not be async")
                    arg_types, ret = _type_hints(member, skip_self=True)
                    _, description = getattr(member, _OPTIONS_ATTR, (_WARN, None))
                    queries[q] = QueryDefinition(q, member, arg_types, ret, description)
                if (u := getattr(member, _UPDATE_ATTR, None)) is not None:
                    if u in updates:
                        raise ValueError(f"{cls.__qualname__}: two update handlers named {u!r}")
                    arg_types, ret = _type_hints(member, skip_self=True)
                    validator = getattr(member, _VALIDATOR_ATTR, None)
                    policy, description = getattr(member, _OPTIONS_ATTR, (_WARN, None))
                    updates[u] = UpdateDefinition(
                        u,
                        member,
                        inspect.iscoroutinefunction(member),
                        arg_types,
                        ret,
                        validator,
                        policy,
                        description,
                    )
        if len(run_fns) != 1:
            raise ValueError(
                f"{cls.__qualname__}: a workflow needs exactly one @workflow.run method, found {len(run_fns)}"
            )
        run_fn = run_fns[0]
        if not inspect.iscoroutinefunction(run_fn):
            raise ValueError(f"{cls.__qualname__}.{run_fn.__name__}: @workflow.run must be an async def")
        arg_types, ret_type = _type_hints(run_fn, skip_self=True)
        init = vars(cls).get("__init__")
        init_takes_args = bool(getattr(init, _INIT_ATTR, False))
        if init is not None and init_takes_args and _params(init) != _params(run_fn):
            raise ValueError(
                f"{cls.__qualname__}: with @workflow.init, __init__ must take the same parameters as "
                f"{run_fn.__name__}"
            )
        return WorkflowDefinition(
            name=name or cls.__name__,
            cls=cls,
            run_fn=run_fn,
            arg_types=arg_types,
            ret_type=ret_type,
            signals=signals,
            queries=queries,
            updates=updates,
            init_takes_args=init_takes_args,
            dynamic_config_fn=config_fns[0] if config_fns else None,
        )


def _params(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()][1:]


@overload
def defn(cls: ClassT) -> ClassT: ...


@overload
def defn(
    *,
    name: str | None = None,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Callable[[ClassT], ClassT]: ...


def defn(
    cls: ClassT | None = None,
    *,
    name: str | None = None,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Any:
    """Mark a class as a workflow; validated now so mistakes surface at import, not at run time.

    As in temporalio, an exception from workflow code that is not a `FailureError` (e.g. a
    `KeyError`, or a `NondeterminismError` on replay) fails the *workflow task*, which is retried
    until the code is fixed; exceptions of a type in `failure_exception_types` fail the workflow
    instead.

    `dynamic=True` (no name): a worker runs this class for every workflow type it has no other
    definition for; `run` takes one `Sequence[tidal.common.RawValue]` (`workflow.info().
    workflow_type` says which type it runs), as in temporalio."""
    if dynamic and name:
        raise ValueError("a dynamic workflow has no name")

    def decorate(c: ClassT) -> ClassT:
        definition = WorkflowDefinition.from_class(c, DYNAMIC if dynamic else name)
        if definition.dynamic_config_fn is not None and not dynamic:
            raise ValueError(f"{c.__qualname__}: @workflow.dynamic_config is for dynamic workflows only")
        definition = dataclasses.replace(
            definition,
            name=DYNAMIC if dynamic else definition.name,
            dynamic=dynamic,
            failure_exception_types=tuple(failure_exception_types),
        )
        setattr(c, _DEFN_ATTR, definition)
        return c

    return decorate(cls) if cls is not None else decorate


def init(init_fn: CallableT) -> CallableT:
    """Mark `__init__` as taking the workflow's arguments (the same parameters as the run
    method), so handlers that run before `run` starts see state built from them, as temporalio's."""
    if init_fn.__name__ != "__init__":
        raise ValueError("@workflow.init may only be used on the __init__ method")
    setattr(init_fn, _INIT_ATTR, True)
    return init_fn


@dataclass(frozen=True)
class DynamicWorkflowConfig:
    """What a dynamic workflow's `@workflow.dynamic_config` method returns: settings that would
    go to `@workflow.defn`, chosen per run (e.g. by `workflow.info().workflow_type`).
    `failure_exception_types`, when not None, replaces the `defn`'s (the worker's still apply)."""

    failure_exception_types: Sequence[type[BaseException]] | None = None


def dynamic_config(fn: CallableT) -> CallableT:
    """Mark the method (taking only self, sync) a dynamic workflow's run calls, after `__init__`
    and before `run`, for its `DynamicWorkflowConfig`, as temporalio's."""
    if inspect.iscoroutinefunction(fn):
        raise ValueError("a workflow's dynamic_config method must be synchronous")
    if len(inspect.signature(fn).parameters) != 1:
        raise ValueError("a workflow's dynamic_config method must take only self")
    setattr(fn, _DYNAMIC_CONFIG_ATTR, True)
    return fn


def run(fn: CallableT) -> CallableT:
    setattr(fn, _RUN_ATTR, True)
    return fn


@overload
def signal(fn: CallableT) -> CallableT: ...


@overload
def signal(
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = _WARN,
    description: str | None = None,
) -> Callable[[CallableT], CallableT]: ...


def signal(
    fn: CallableT | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = _WARN,
    description: str | None = None,
) -> Any:
    """A signal handler. `dynamic=True` (no name) receives every signal that has no handler of
    its own, as `(self, name: str, args: Sequence[tidal.common.RawValue])`, like temporalio.
    `unfinished_policy`: whether a run that closes while this handler still runs warns."""
    if dynamic and name:
        raise ValueError("a dynamic signal handler has no name")

    def decorate(f: CallableT) -> CallableT:
        setattr(f, _SIGNAL_ATTR, DYNAMIC if dynamic else (name or f.__name__))
        setattr(f, _OPTIONS_ATTR, (unfinished_policy, description))
        return f

    return decorate(fn) if fn is not None else decorate


@overload
def query(fn: CallableT) -> CallableT: ...


@overload
def query(
    *, name: str | None = None, dynamic: bool | None = False, description: str | None = None
) -> Callable[[CallableT], CallableT]: ...


def query(
    fn: CallableT | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    description: str | None = None,
) -> Any:
    """A query handler (sync, read-only). `dynamic=True` (no name) answers every query that has
    no handler of its own, as `(self, name: str, args: Sequence[tidal.common.RawValue])`."""
    if dynamic and name:
        raise ValueError("a dynamic query handler has no name")

    def decorate(f: CallableT) -> CallableT:
        setattr(f, _QUERY_ATTR, DYNAMIC if dynamic else (name or f.__name__))
        setattr(f, _OPTIONS_ATTR, (_WARN, description))
        return f

    return decorate(fn) if fn is not None else decorate


@overload
def update(fn: CallableT) -> CallableT: ...


@overload
def update(
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = _WARN,
    description: str | None = None,
) -> Callable[[CallableT], CallableT]: ...


def update(
    fn: CallableT | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = _WARN,
    description: str | None = None,
) -> Any:
    """An update handler (as temporalio's `@workflow.update`): may be async and change state.
    `@<handler>.validator` registers a sync validator that rejects an update by raising; a
    rejected update never reaches history. `dynamic=True` (no name) handles every update without
    a handler of its own, as `(self, name: str, args: Sequence[tidal.common.RawValue])`."""
    if dynamic and name:
        raise ValueError("a dynamic update handler has no name")

    def decorate(f: CallableT) -> CallableT:
        setattr(f, _UPDATE_ATTR, DYNAMIC if dynamic else (name or f.__name__))
        setattr(f, _OPTIONS_ATTR, (unfinished_policy, description))

        def validator(vfn: Callable[..., None]) -> Callable[..., None]:
            setattr(f, _VALIDATOR_ATTR, vfn)
            return vfn

        setattr(f, "validator", validator)  # noqa: B010 - a function attribute, as in temporalio
        return f

    return decorate(fn) if fn is not None else decorate


def lookup(definitions: Mapping[str, WorkflowDefinition], workflow_type: str) -> WorkflowDefinition | None:
    """The definition a worker runs `workflow_type` with: its own, else the dynamic one."""
    return definitions.get(workflow_type) or definitions.get(DYNAMIC)


def get_definition(cls: type) -> WorkflowDefinition:
    """The definition `@workflow.defn` recorded on `cls`; TypeError if it has none."""
    defn_ = cls.__dict__.get(_DEFN_ATTR) if isinstance(cls, type) else None
    if not isinstance(defn_, WorkflowDefinition):
        raise TypeError(f"{cls!r} is not a workflow: decorate it with @workflow.defn")
    return defn_
