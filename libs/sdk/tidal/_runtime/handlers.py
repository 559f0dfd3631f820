"""The run's handler tables: the decorated signal, query and update handlers, changed at run time
by `workflow.set_*_handler`; signals that arrive with no handler are buffered until one is set
(temporalio's semantics); running async handlers are tracked for `all_handlers_finished` and for
the unfinished-handler warnings a closing run emits."""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import json
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tidal_schema import events

from .._definitions import QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition
from .._workflow_handlers import (
    DYNAMIC,
    HandlerUnfinishedPolicy,
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
)
from .._workflow_interceptors import HandleSignalInput
from ..activity import _type_hints
from ..common import RawValue
from .eager import step_eagerly

if TYPE_CHECKING:
    from .._workflow_interceptors import WorkflowInboundInterceptor
    from ..converter import DataConverter
    from .activation import ActivationState

HandlerKind = Literal["signal", "query", "update"]
AnyDefinition = SignalDefinition | QueryDefinition | UpdateDefinition

_WAIT_ADVICE = (
    "To wait for them, `await workflow.wait_condition(workflow.all_handlers_finished)` before "
    "returning; to silence this, give the handler `unfinished_policy="
    "workflow.HandlerUnfinishedPolicy.ABANDON`."
)


@dataclass(frozen=True)
class RunningHandler:
    kind: Literal["signal", "update"]
    name: str
    policy: HandlerUnfinishedPolicy
    update_id: str | None = None


def bound(d: AnyDefinition, obj: Any) -> Callable[..., Any]:
    """The handler as user code calls it: a decorated method bound to the workflow object."""
    return functools.partial(d.fn, obj) if d.is_method else d.fn


def handler_args(
    d: SignalDefinition | UpdateDefinition | QueryDefinition,
    name: str,
    payloads: Any,
    converter: DataConverter,
) -> list[Any]:
    """Arguments for a call of `d` with the request's payloads: a dynamic handler gets the name
    and the raw values."""
    if d.dynamic:
        return [name, [RawValue(p) for p in payloads]]
    return list(converter.from_payloads(payloads, d.arg_types))


class Handlers:
    """The run's handler tables and its running handlers. Signals enter through `inbound` (the
    run's interceptor chain); a handler that raises is reported to `on_failure`."""

    def __init__(
        self,
        *,
        state: ActivationState,
        definition: WorkflowDefinition,
        inbound: WorkflowInboundInterceptor,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._state = state
        self._inbound = inbound
        self._on_failure = on_failure
        self.signals: dict[str, SignalDefinition] = dict(definition.signals)
        self.queries: dict[str, QueryDefinition] = dict(definition.queries)
        self.updates: dict[str, UpdateDefinition] = dict(definition.updates)
        self._buffered_signals: list[events.WorkflowExecutionSignaled] = []
        self._running: dict[asyncio.Task[Any], RunningHandler] = {}

    # --- workflow.get_*/set_*_handler -----------------------------------------------------

    def get(self, kind: HandlerKind, name: str) -> Callable[..., Any] | None:
        d = self._table(kind).get(name)
        return None if d is None else bound(d, self._state.workflow_object)

    def set(
        self,
        kind: HandlerKind,
        name: str,
        handler: Callable[..., Any] | None,
        *,
        validator: Callable[..., Any] | None = None,
    ) -> None:
        self._state.assert_not_read_only(f"set {kind} handler")
        table: dict[str, Any] = self._table(kind)
        if handler is None:
            table.pop(name, None)
            return
        arg_types, ret = _type_hints(handler)
        is_async = inspect.iscoroutinefunction(handler)
        if kind == "signal":
            table[name] = SignalDefinition(name, handler, is_async, arg_types, is_method=False)
            self._deliver_buffered()
        elif kind == "query":
            table[name] = QueryDefinition(name, handler, arg_types, ret, is_method=False)
        else:
            table[name] = UpdateDefinition(
                name, handler, is_async, arg_types, ret, validator, is_method=False
            )

    def _table(self, kind: HandlerKind) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            "signal": self.signals,
            "query": self.queries,
            "update": self.updates,
        }
        return tables[kind]

    # --- signals ----------------------------------------------------------------------------

    def deliver_signal(self, a: events.WorkflowExecutionSignaled) -> None:
        """A WorkflowExecutionSignaled job: run its handler, or keep it for one set later."""
        d = self.signals.get(a.signal_name) or self.signals.get(DYNAMIC)
        if d is None or (d.is_method and self._state.workflow_object is None):
            # Kept for a handler set later (`workflow.set_signal_handler`), as temporalio does.
            self._buffered_signals.append(a)
            return
        self._dispatch_signal(d, a)

    def _deliver_buffered(self) -> None:
        """A signal handler was set: buffered signals it (or another) now handles run, in arrival
        order; the others stay buffered."""
        pending, self._buffered_signals = self._buffered_signals, []
        for a in pending:
            self.deliver_signal(a)

    def _dispatch_signal(self, d: SignalDefinition, a: events.WorkflowExecutionSignaled) -> None:
        args = handler_args(d, a.signal_name, a.input, self._state.converter)
        call = HandleSignalInput(signal=a.signal_name, args=args, headers=dict(a.header))
        coro = self._inbound.handle_signal(call)
        if d.is_async:
            self._run_signal_task(coro, d, a.signal_name)
            return
        # Sync handlers run right away, so within an activation they see signals in history order
        # and, on the first activation, run before the workflow's run method starts (also through
        # interceptors that only pass the call on; one that waits goes on as a task).
        try:
            done, _, rest = step_eagerly(coro)
        except Exception as e:
            self._on_failure(e)
            return
        if not done:
            assert rest is not None
            self._run_signal_task(rest, d, a.signal_name)

    def _run_signal_task(self, coro: Coroutine[Any, Any, Any], d: SignalDefinition, name: str) -> None:
        t = self._state.loop.create_task(coro, name=f"signal:{name}")
        t.add_done_callback(self._handler_done)
        self.track(t, RunningHandler("signal", name, d.unfinished_policy))

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (e := task.exception()) is not None:
            self._on_failure(e)

    # --- running handlers -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Some async signal or update handler has not finished (`workflow.all_handlers_finished`)."""
        return bool(self._running)

    def track(self, task: asyncio.Task[Any], running: RunningHandler) -> None:
        self._running[task] = running
        task.add_done_callback(lambda t: self._running.pop(t, None))

    def warn_unfinished(self) -> None:
        """The run is closing: warn about handlers still running whose policy asks for it (not on
        replay, which would warn again for a run that already warned)."""
        if self._state.replaying:
            return
        warn = [r for r in self._running.values() if r.policy is HandlerUnfinishedPolicy.WARN_AND_ABANDON]
        updates = [{"name": r.name, "id": r.update_id} for r in warn if r.kind == "update"]
        if updates:
            warnings.warn(
                UnfinishedUpdateHandlersWarning(
                    "The workflow finished while update handlers were still running; their callers "
                    f"get an error instead of a result. {_WAIT_ADVICE} Unfinished updates: "
                    + json.dumps(updates)
                ),
                stacklevel=2,
            )
        counts = collections.Counter(r.name for r in warn if r.kind == "signal")
        if counts:
            signals = [{"name": n, "count": c} for n, c in counts.most_common()]
            warnings.warn(
                UnfinishedSignalHandlersWarning(
                    "The workflow finished while signal handlers were still running. "
                    f"{_WAIT_ADVICE} Unfinished signals: " + json.dumps(signals)
                ),
                stacklevel=2,
            )
