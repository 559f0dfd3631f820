"""The deterministic event loop workflow code runs on.

It is an `asyncio.AbstractEventLoop` so that ordinary asyncio (tasks, futures, `gather`,
`wait_for`, `asyncio.sleep`) works in workflow code, but nothing in it touches the OS: there is no
selector and no real clock. Ready callbacks run in FIFO order until none is left; the clock is the
workflow time the instance sets per activation; and every `call_later` becomes a *durable* timer
(a StartTimer command that fires when history says TimerFired), which is what makes
`asyncio.sleep` and `asyncio.wait_for` timeouts survive worker restarts and replay identically.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar, TypeVarTuple

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

log = logging.getLogger("tidal.workflow.loop")


class TimerSink(Protocol):
    """What the loop needs from its owner to turn timers into commands."""

    def start_timer(self, handle: asyncio.TimerHandle, delay: float) -> None: ...

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None: ...

    def callback_failed(self, exc: BaseException) -> None: ...


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    def __init__(self, sink: TimerSink) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._time = 0.0
        self._sink = sink
        # workflow.* functions find their instance through this attribute of the running loop.
        self.tidal_instance: Any = sink
        # This loop's tasks, for eviction (asyncio.all_tasks would scan every task of the process).
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    # --- driving (called by the instance) -------------------------------------------------

    def set_time(self, seconds: float) -> None:
        self._time = seconds

    def has_ready(self) -> bool:
        return bool(self._ready)

    def run_ready(self) -> None:
        """Run callbacks until none is ready. New callbacks scheduled meanwhile run too."""
        while self._ready:
            handle = self._ready.popleft()
            if not handle.cancelled():
                handle._run()

    def fire(self, handle: asyncio.TimerHandle) -> None:
        """History says this timer fired: its callback becomes ready."""
        if not handle.cancelled():
            self._ready.append(handle)

    # --- the asyncio surface used by tasks, futures and asyncio helpers --------------------

    def time(self) -> float:
        return self._time

    def call_soon(
        self, callback: Callable[[*_Ts], object], *args: *_Ts, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(self._time + delay, callback, args, self, context)
        if delay <= 0:
            # Nothing to wait for: run it soon without a durable timer (deterministic either way).
            self._ready.append(handle)
        else:
            self._sink.start_timer(handle, delay)
        return handle

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self._time, callback, *args, context=context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # Called by TimerHandle.cancel(): a durable timer not yet fired must be cancelled too.
        self._sink.cancel_timer(handle)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[_T]:
        task = asyncio.Task(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done()]

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        log.warning("workflow event loop: %s", context.get("message"), exc_info=context.get("exception"))

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        # A plain callback (not a task) raised: that is a bug in workflow code, so the task must
        # fail. "Future exception was never retrieved" reports come from garbage collection, whose
        # timing is not deterministic, so they are only logged.
        if "handle" in context and isinstance(exc, BaseException):
            self._sink.callback_failed(exc)
        elif exc is None:
            # e.g. "Task was destroyed but it is pending!" when an evicted run is collected.
            log.debug("workflow event loop: %s", context.get("message"))
        else:
            self.default_exception_handler(context)
