"""Worker interceptors (temporalio.worker's `Interceptor` and the activity side; re-exported by
`tidal.worker`).

`Worker(interceptors=[...])` (plus the client's interceptors that are also worker interceptors,
as temporalio takes them) wraps every activity attempt: `intercept_activity(next)` returns an
`ActivityInboundInterceptor` whose `execute_activity` sees the function and its decoded
arguments, and whose `init` may wrap the `ActivityOutboundInterceptor` that `activity.info()` and
`activity.heartbeat()` go through. The first interceptor given is the outermost. Local
activities go through the same chain. The workflow side (`workflow_interceptor_class`, the
classes of `_workflow_interceptors.py`) wraps every workflow run; the base answers None.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidal_schema import Payload

from . import activity as _activity
from ._workflow_interceptors import WorkflowInboundInterceptor, WorkflowInterceptorClassInput

__all__ = [
    "ActivityInboundInterceptor",
    "ActivityOutboundInterceptor",
    "ExecuteActivityInput",
    "Interceptor",
]


class Interceptor:
    """Base of worker interceptors: override `intercept_activity` to wrap activity attempts and
    `workflow_interceptor_class` to intercept workflows."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """The interceptor this worker uses for an activity attempt, delegating to `next`."""
        return next

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """A `WorkflowInboundInterceptor` subclass the worker instantiates for each workflow run
        (asked once, when the worker is built), or None."""
        del input
        return None


# Not frozen: as in temporalio, an interceptor alters the call by assigning `input.args`.
@dataclass
class ExecuteActivityInput:
    """Input for `ActivityInboundInterceptor.execute_activity`."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    executor: concurrent.futures.Executor | None
    headers: Mapping[str, Payload]


class ActivityInboundInterceptor:
    """Wraps the execution of an activity attempt; every call delegates to `next` by default."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        """Called before `execute_activity` with the outbound chain; wrap `outbound` before
        passing it on to add an outbound interceptor."""
        self.next.init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await self.next.execute_activity(input)


class ActivityOutboundInterceptor:
    """Wraps the calls an activity makes to its worker; every call delegates to `next`."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> _activity.Info:
        """Called for every `activity.info()`."""
        return self.next.info()

    def heartbeat(self, *details: Any) -> None:
        """Called for every `activity.heartbeat(...)`."""
        self.next.heartbeat(*details)


# --- the innermost links, which do the work ---------------------------------------------------


class _Outbound(ActivityOutboundInterceptor):
    """The context holds its outbound chain, so the chain's end holds the context weakly: a
    strong reference both ways is a cycle that only the cyclic collector frees, per attempt. The
    attempt (and the activity's context variable) keep the context alive while it can be used."""

    def __init__(self, ctx: _activity._Context) -> None:  # no `next`: this is the end of the chain
        self._ctx = weakref.ref(ctx)
        self._info = ctx.info

    def info(self) -> _activity.Info:
        ctx = self._ctx()
        return ctx.info if ctx is not None else self._info

    def heartbeat(self, *details: Any) -> None:
        ctx = self._ctx()
        if ctx is not None and ctx.heartbeat is not None:
            ctx.heartbeat(*details)


class _Inbound(ActivityInboundInterceptor):
    """Calls the function: on the event loop when it is async, else on the executor's thread
    with the attempt's context set there (context variables do not follow into executors)."""

    def __init__(self, ctx: _activity._Context, is_async: bool) -> None:
        self._ctx = ctx
        self._is_async = is_async

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self._ctx.outbound = outbound

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if self._is_async:
            return await input.fn(*input.args)
        ctx, fn, args = self._ctx, input.fn, tuple(input.args)
        if ctx.process is not None and input.executor is not None:  # another process: see _activity_process
            return await ctx.process.run(input.executor, ctx, fn, args)

        def call() -> Any:
            token = _activity._set_context(ctx)
            try:
                return fn(*args)
            finally:
                _activity._reset_context(token)

        return await asyncio.get_running_loop().run_in_executor(input.executor, call)


def activity_chain(
    interceptors: Sequence[Interceptor], ctx: _activity._Context, *, is_async: bool
) -> ActivityInboundInterceptor:
    """The inbound chain for one attempt, initialised: `ctx.outbound` is the outermost outbound."""
    chain: ActivityInboundInterceptor = _Inbound(ctx, is_async)
    for interceptor in reversed(interceptors):
        chain = interceptor.intercept_activity(chain)
    chain.init(_Outbound(ctx))
    return chain


def workflow_interceptor_classes(
    interceptors: Sequence[Interceptor],
) -> tuple[type[WorkflowInboundInterceptor], ...]:
    """The workflow interceptor classes of `interceptors`, outermost first."""
    classes = (
        i.workflow_interceptor_class(WorkflowInterceptorClassInput(unsafe_extern_functions={}))
        for i in interceptors
    )
    return tuple(c for c in classes if c is not None)


def client_worker_interceptors(client: Any) -> list[Interceptor]:
    """The client's interceptors that are also worker interceptors (temporalio's rule)."""
    config = getattr(client, "config", None)
    if not callable(config):
        return []
    return [i for i in config().get("interceptors", ()) if isinstance(i, Interceptor)]
