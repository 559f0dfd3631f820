"""Supervised long-running loops and the process health they feed.

A service's background loops (a history shard's processor, the timer's fire and load loops,
membership heartbeats, pollers) run as plain asyncio tasks; one that ends with an exception is
otherwise gone without a trace while the process looks healthy. Every such loop is started through
a `Supervisor` instead:

- an unexpected exit (exception, or a return) is logged with its traceback, counted
  (`tidal_loop_crashes_total{service,loop}`) and marks the loop down in the process `Health`, so
  `/readyz` answers 503 while it is down (`tidal_loops_down{service}`);
- by default the loop is restarted after a backoff (0.1 s doubling to 30 s; a loop that ran for a
  minute before crashing starts again from 0.1 s) and counted in `tidal_loop_restarts_total`;
- a loop started with `on_exit` is handed to that handler instead (a history shard releases the
  shard: its exclusive consumer is cancelled, so its messages go back to the queue for whichever
  member re-acquires it). If the handler itself fails, nothing can repair the process from inside:
  `Health.fail()` makes the host stop every service and exit non-zero, and the orchestrator
  restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .faults import describe
from .metrics import LOOP_CRASHES, LOOP_RESTARTS, LOOPS_DOWN

__all__ = ["Backoff", "ExitHandler", "Health", "Supervised", "Supervisor"]

log = logging.getLogger("tidal.supervision")

ExitHandler = Callable[[BaseException | None], Awaitable[None]]
"""Called (in its own task) with the exception a loop died of, or None if it returned."""


class Health:
    """What a process knows about itself beyond "the event loop answers": the supervised loops that
    are down right now, and a fatal failure that must end the process."""

    def __init__(self) -> None:
        self._down: dict[str, str] = {}
        self.fatal_reason: str | None = None
        self.failed = asyncio.Event()
        """Set by fail(): the host stops the services and exits non-zero."""

    def ready(self) -> bool:
        return self.fatal_reason is None and not self._down

    def problems(self) -> dict[str, str]:
        """Loop name -> why it is down (and "fatal" -> the reason the process must exit)."""
        out = dict(self._down)
        if self.fatal_reason is not None:
            out["fatal"] = self.fatal_reason
        return out

    def mark_down(self, name: str, reason: str) -> None:
        self._down[name] = reason

    def mark_up(self, name: str) -> None:
        self._down.pop(name, None)

    def fail(self, reason: str) -> None:
        if self.fatal_reason is None:
            self.fatal_reason = reason
            log.critical("fatal: %s; the process stops so that it can be restarted", reason)
        self.failed.set()


@dataclass(frozen=True, kw_only=True)
class Backoff:
    initial: float = 0.1
    maximum: float = 30.0
    multiplier: float = 2.0
    reset_after: float = 60.0
    """A loop that ran at least this long before it crashed starts over from `initial`."""

    def delay(self, failures: int) -> float:
        return float(min(self.initial * self.multiplier ** max(failures - 1, 0), self.maximum))


class Supervised:
    """One supervised loop. `cancel()` stops it; that is not a crash."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        loop: str,
        name: str,
        run: Callable[[], Awaitable[None]],
        on_exit: ExitHandler | None,
    ) -> None:
        self._sup = supervisor
        self.loop = loop
        self.name = name
        self._run = run
        self._on_exit = on_exit
        self.crashes = 0
        self.task: asyncio.Task[None] = asyncio.create_task(self._supervise(), name=name)

    @property
    def running(self) -> bool:
        return not self.task.done()

    async def cancel(self) -> None:
        if self.task.done():
            return
        self.task.cancel()
        if self.task is asyncio.current_task():
            return
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _supervise(self) -> None:
        sup = self._sup
        failures = 0
        while True:
            started = time.monotonic()
            exc: BaseException | None = None
            try:
                await self._run()
            except Exception as e:
                exc = e
            self.crashes += 1
            reason = "returned" if exc is None else describe(exc)
            if exc is not None:
                LOOP_CRASHES.labels(sup.service, self.loop).inc()
                log.error("loop %s crashed: %s", self.name, reason, exc_info=exc)
            elif self._on_exit is None:
                log.error("loop %s returned; it must run until cancelled", self.name)
            sup._down(self, reason)
            if self._on_exit is not None:
                # In its own task: the handler usually stops this very loop's owner.
                sup._hand_off(self, self._on_exit, exc)
                return
            if time.monotonic() - started >= sup.backoff.reset_after:
                failures = 0
            failures += 1
            delay = sup.backoff.delay(failures)
            log.warning("restarting loop %s in %.1f s", self.name, delay)
            await asyncio.sleep(delay)
            LOOP_RESTARTS.labels(sup.service, self.loop).inc()
            sup._up(self)


class Supervisor:
    """Starts and supervises a service's loops (see the module docstring)."""

    def __init__(self, *, service: str, health: Health, backoff: Backoff | None = None) -> None:
        self.service = service
        self.health = health
        self.backoff = backoff or Backoff()
        self._loops: set[Supervised] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._down_names: set[str] = set()

    def spawn(
        self,
        loop: str,
        run: Callable[[], Awaitable[None]],
        *,
        key: object | None = None,
        on_exit: ExitHandler | None = None,
    ) -> Supervised:
        """Run `run()` supervised. `loop` is the bounded metric label (e.g. "shard"); `key` tells
        instances apart in logs and readiness (e.g. the shard id)."""
        name = f"{self.service}.{loop}" + (f"[{key}]" if key is not None else "")
        s = Supervised(self, loop=loop, name=name, run=run, on_exit=on_exit)
        self._loops.add(s)
        s.task.add_done_callback(lambda _t: self._loops.discard(s))
        return s

    async def stop(self) -> None:
        """Cancel every loop and pending exit handler (a shutdown, not a crash)."""
        for s in list(self._loops):
            await s.cancel()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for name in list(self._down_names):
            self._up_name(name)

    def _down(self, s: Supervised, reason: str) -> None:
        if s.name not in self._down_names:
            self._down_names.add(s.name)
            LOOPS_DOWN.labels(self.service).inc()
        self.health.mark_down(s.name, reason)

    def _up(self, s: Supervised) -> None:
        self._up_name(s.name)

    def _up_name(self, name: str) -> None:
        if name in self._down_names:
            self._down_names.discard(name)
            LOOPS_DOWN.labels(self.service).dec()
        self.health.mark_up(name)

    def _hand_off(self, s: Supervised, handler: ExitHandler, exc: BaseException | None) -> None:
        async def handle() -> None:
            try:
                await handler(exc)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.exception("the exit handler of loop %s failed", s.name)
                self.health.fail(
                    f"loop {s.name} ended ({'returned' if exc is None else describe(exc)}) and "
                    f"could not be released: {describe(e)}"
                )
                return
            if exc is not None:
                LOOP_RESTARTS.labels(self.service, s.loop).inc()
            self._up(s)

        task = asyncio.create_task(handle(), name=f"{s.name}-exit")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
