"""Running a coroutine's first step at once, as Python 3.12's eager tasks do (this runtime targets
3.11): a synchronous handler called through an async interceptor chain stays synchronous when
every interceptor only passes the call on."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import Any

__all__ = ["step_eagerly"]


class _Resume:
    """The rest of a coroutine that `step_eagerly` already stepped once, as an awaitable: it
    hands the future the coroutine is blocked on to the task that awaits it, then goes on (in
    the task's context)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], blocked_on: Any) -> None:
        self._coro = coro
        self._blocked_on = blocked_on

    def __await__(self) -> Generator[Any, Any, Any]:
        yielded = self._blocked_on
        while True:
            try:
                try:
                    sent = yield yielded
                except BaseException as e:  # thrown in by the task (e.g. a cancel): pass it on
                    yielded = self._coro.throw(e)
                else:
                    yielded = self._coro.send(sent)
            except StopIteration as done:
                return done.value


def step_eagerly(
    coro: Coroutine[Any, Any, Any], *, context: Context | None = None
) -> tuple[bool, Any, Coroutine[Any, Any, Any] | None]:
    """Run `coro` (in `context`) until it first waits. Returns (True, result, None) when it
    finished without waiting (exceptions propagate), else (False, None, rest): `rest` is a
    coroutine to run as a task (in the same context). Keeps a synchronous handler synchronous
    through an interceptor chain that only calls `await self.next...`, so signals still run in
    history order before the run method's next step, as without interceptors."""
    try:
        blocked_on = context.run(coro.send, None) if context is not None else coro.send(None)
    except StopIteration as done:
        return True, done.value, None

    async def rest() -> Any:
        return await _Resume(coro, blocked_on)

    return False, None, rest()
