"""Workflow definitions: the decorators (`defn`, `run`, `signal`, `query`, `update`) and what
they record. Part of `tidal.workflow`'s API (re-exported there); separate to keep modules small."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from .activity import _type_hints

ClassT = TypeVar("ClassT", bound=type)
CallableT = TypeVar("CallableT", bound=Callable[..., Any])

_DEFN_ATTR = "__tidal_workflow_definition__"
_RUN_ATTR = "__tidal_workflow_run__"
_SIGNAL_ATTR = "__tidal_signal_name__"
DYNAMIC_SIGNAL = ""  # the key of the dynamic signal handler (signal names are never empty)
_QUERY_ATTR = "__tidal_query_name__"
_UPDATE_ATTR = "__tidal_update_name__"
_VALIDATOR_ATTR = "__tidal_update_validator__"


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
def signal(*, name: str | None = None, dynamic: bool = False) -> Callable[[CallableT], CallableT]: ...


def signal(fn: CallableT | None = None, *, name: str | None = None, dynamic: bool = False) -> Any:
    """A signal handler. `dynamic=True` (no name) receives every signal that has no handler of
    its own, as `(self, name: str, args: Sequence[tidal.common.RawValue])`, like temporalio."""
    if dynamic and name:
        raise ValueError("a dynamic signal handler has no name")

    def decorate(f: CallableT) -> CallableT:
        setattr(f, _SIGNAL_ATTR, DYNAMIC_SIGNAL if dynamic else (name or f.__name__))
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
