"""Signal, query and update handlers set at run time (`workflow.set_signal_handler` & co), the
unfinished-handler policy and its warnings, and the current update's info: part of
`tidal.workflow`'s API (re-exported there; mirrors temporalio.workflow)."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ._workflow_context import _rt

__all__ = [
    "HandlerUnfinishedPolicy",
    "UnfinishedSignalHandlersWarning",
    "UnfinishedUpdateHandlersWarning",
    "UpdateInfo",
    "current_update_info",
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_dynamic_update_handler",
    "get_query_handler",
    "get_signal_handler",
    "get_update_handler",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_dynamic_update_handler",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
]

DYNAMIC = ""  # the table key of a dynamic handler (handler names are never empty)


class HandlerUnfinishedPolicy(Enum):
    """What happens to a signal or update handler still running when the run closes (complete,
    fail, cancel or continue-as-new): it is abandoned either way; WARN_AND_ABANDON also emits an
    `Unfinished*HandlersWarning` (temporalio's values)."""

    WARN_AND_ABANDON = 1
    ABANDON = 2


class UnfinishedUpdateHandlersWarning(RuntimeWarning):
    """The run closed while update handlers were still running (their callers get an error)."""


class UnfinishedSignalHandlersWarning(RuntimeWarning):
    """The run closed while signal handlers were still running."""


@dataclass(frozen=True)
class UpdateInfo:
    """The update whose handler (or validator) is running: `workflow.current_update_info()`."""

    id: str
    name: str


# Set in the context of an update's validator and handler task, so coroutines the handler starts
# see it too (asyncio copies the context into new tasks), as temporalio's.
current_update: contextvars.ContextVar[UpdateInfo | None] = contextvars.ContextVar(
    "tidal_current_update", default=None
)


def current_update_info() -> UpdateInfo | None:
    """The update being handled by the calling code (its handler, validator, or a task the handler
    started); None elsewhere."""
    return current_update.get()


def _check_sync(fn: Callable[..., Any] | None, what: str) -> None:
    if fn is not None and inspect.iscoroutinefunction(fn):
        raise TypeError(f"{what} must not be an async def")


def get_signal_handler(name: str) -> Callable[..., Any] | None:
    """The handler for signal `name` (a decorated method comes bound), or None; never the
    dynamic handler."""
    return _rt().handlers.get("signal", name)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Set (None: unset) the handler of signal `name`, replacing a decorated one. Signals that
    arrived earlier without a handler are delivered to it at once, in arrival order."""
    _rt().handlers.set("signal", name, handler)


def get_dynamic_signal_handler() -> Callable[..., Any] | None:
    return _rt().handlers.get("signal", DYNAMIC)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Set (None: unset) the handler of every signal without its own, called as
    `handler(name, args: Sequence[RawValue])`; buffered signals are delivered to it at once."""
    _rt().handlers.set("signal", DYNAMIC, handler)


def get_query_handler(name: str) -> Callable[..., Any] | None:
    return _rt().handlers.get("query", name)


def set_query_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Set (None: unset) the handler of query `name`; queries must not be async."""
    _check_sync(handler, "a query handler")
    _rt().handlers.set("query", name, handler)


def get_dynamic_query_handler() -> Callable[..., Any] | None:
    return _rt().handlers.get("query", DYNAMIC)


def set_dynamic_query_handler(handler: Callable[..., Any] | None) -> None:
    """Set (None: unset) the handler of every query without its own, called as
    `handler(name, args: Sequence[RawValue])`."""
    _check_sync(handler, "a query handler")
    _rt().handlers.set("query", DYNAMIC, handler)


def get_update_handler(name: str) -> Callable[..., Any] | None:
    return _rt().handlers.get("update", name)


def set_update_handler(
    name: str, handler: Callable[..., Any] | None, *, validator: Callable[..., Any] | None = None
) -> None:
    """Set (None: unset) the handler of update `name` and its optional (sync) validator."""
    _check_sync(validator, "an update validator")
    _rt().handlers.set("update", name, handler, validator=validator)


def get_dynamic_update_handler() -> Callable[..., Any] | None:
    return _rt().handlers.get("update", DYNAMIC)


def set_dynamic_update_handler(
    handler: Callable[..., Any] | None, *, validator: Callable[..., Any] | None = None
) -> None:
    """Set (None: unset) the handler of every update without its own, called as
    `handler(name, args: Sequence[RawValue])` (the validator likewise)."""
    _check_sync(validator, "an update validator")
    _rt().handlers.set("update", DYNAMIC, handler, validator=validator)
