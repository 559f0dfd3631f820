"""The time-skipping test environment (`WorkflowEnvironment.start_time_skipping()` and
`start_time_skipping_v2()`, re-exported by `tidal.testing`) and temporalio's V2 names on it:
`TimeSkippingConfig`, `TimeSkipper`, `fast_forward`, `get_time_skipping_info`.

One `SkippingClock` serves the whole embedded server: a jump moves every run's durable timers,
not one workflow's as in temporalio's V2. V1 skips while someone waits for a result (or calls
`env.sleep()`); V2 (`ts_config`) skips whenever the server is idle, until told otherwise."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ._time_skipping_config import FastForwardConfig, TimeSkippingConfig, TimeSkippingInfo
from .client import Client, WorkflowHandle
from .testing import EmbeddedServerLike, WorkflowEnvironment

__all__ = [
    "FastForwardConfig",
    "TimeSkipper",
    "TimeSkippingConfig",
    "TimeSkippingEnvironment",
    "TimeSkippingInfo",
]


class TimeSkippingEnvironment(WorkflowEnvironment):
    # How long (real seconds) the server must look idle before time jumps: work that is about
    # to start (a task just published) gets a few loop turns to show up first.
    _QUIET_SECONDS = 0.02
    _POLL_SECONDS = 0.005

    def __init__(
        self,
        *,
        server: EmbeddedServerLike,
        clock: Any,
        make_client: Callable[[Callable[[], AbstractAsyncContextManager[None]]], Client],
        ts_config: TimeSkippingConfig | None = None,
    ) -> None:
        """`ts_config` None: V1 (skip while waited on); else V2 with that config."""
        super().__init__(client=make_client(self._skipping), server=server)
        self._embedded = server
        self._clock = clock
        self._v2 = ts_config is not None
        self._config = ts_config or TimeSkippingConfig(enabled=False)
        self._waiters = 0
        self._forced = 0  # fast_forward(handle, None) in progress: skips despite a disabled block
        self._auto_disabled = 0
        self._skips = 0
        self._skipped = timedelta()
        self._fast_forward_until: datetime | None = None
        self._skipper: asyncio.Task[None] | None = None

    def begin(self) -> None:
        """A V2 environment skips from the start (and for as long as its config says)."""
        if self._v2:
            self.config = self._config

    @property
    def supports_time_skipping_v1(self) -> bool:
        return not self._v2

    @property
    def supports_time_skipping_v2(self) -> bool:
        return self._v2

    @property
    def config(self) -> TimeSkippingConfig:
        return self._config

    @config.setter
    def config(self, value: TimeSkippingConfig) -> None:
        """A new V2 config: a new session (the skip count starts again)."""
        self._config, self._skips = value, 0
        ff = value.fast_forward_config
        self._fast_forward_until = self._clock.now() + ff.duration if ff is not None else None
        if value.enabled:
            self._ensure_skipper()

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        self._auto_disabled += 1
        try:
            yield None
        finally:
            self._auto_disabled -= 1

    @contextlib.contextmanager
    def with_time_skipping_disabled(self) -> Iterator[None]:
        """No automatic jumps within the block (for the whole engine: one clock)."""
        with self.auto_time_skipping_disabled():
            yield None

    async def get_current_time(self, handle: WorkflowHandle[Any] | None = None) -> datetime:
        del handle
        now: datetime = self._clock.now()
        return now

    async def get_time_skipping_info(self, handle: WorkflowHandle[Any]) -> TimeSkippingInfo | None:
        """The engine's clock (one for every run: `handle` picks none); None if time was never
        skipped nor skipping enabled."""
        del handle
        if not self._skipped and not self._config.enabled:
            return None
        return TimeSkippingInfo(
            current_time=self._clock.now(),
            skipped=self._skipped,
            effective_config=self._effective_config(),
            current_session_skip_count=self._skips,
            fast_forward_config=self._config.fast_forward_config,
        )

    async def fast_forward(
        self, handle: WorkflowHandle[Any], duration: timedelta | float | None = None, /
    ) -> bool:
        """Move the clock `duration` ahead, firing every timer on the way; True if `handle`'s
        run is still open then, False if it closed first. None: skip until it closes (False)."""
        if duration is None:
            async with self._skipping(force=True):
                with contextlib.suppress(Exception):
                    await handle.result()
            return False
        if await _closed(handle):
            return False
        await self.sleep(duration)
        return not await _closed(handle)

    async def sleep(self, duration: timedelta | float) -> None:
        """Move the server's time forward by `duration`, firing every timer due on the way (each
        one after the server has finished reacting to the previous)."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        target = self._clock.now() + timedelta(seconds=seconds)
        while True:
            await self._until_quiet()
            due = await self._embedded.next_timer_due()
            if due is None or due > target:
                self._jump(target)
                await self._until_quiet()
                return
            self._jump(due)
            await self._until_fired(due)

    def _jump(self, to: datetime) -> None:
        now = self._clock.now()
        if to > now:
            self._skipped += to - now
            self._clock.skip_to(to)

    def _effective_config(self) -> TimeSkippingConfig:
        return (
            self._config
            if self._auto_allowed()
            else replace(self._config, enabled=False, fast_forward_config=None)
        )

    def _auto_allowed(self) -> bool:
        c = self._config
        if not c.enabled:
            return False
        if c.max_session_skip_count and self._skips >= c.max_session_skip_count:
            return False
        return self._fast_forward_until is None or self._clock.now() < self._fast_forward_until

    def _ensure_skipper(self) -> None:
        if self._skipper is None or self._skipper.done():
            self._skipper = asyncio.get_running_loop().create_task(
                self._skip_loop(), name="tidal-time-skipping"
            )

    @contextlib.asynccontextmanager
    async def _skipping(self, *, force: bool = False) -> AsyncIterator[None]:
        """The result-wait hook: V1 skips while someone waits; V2 already skips on its own."""
        if self._auto_disabled and not force:
            yield
            return
        self._waiters += 1
        self._forced += force
        self._ensure_skipper()
        try:
            yield
        finally:
            self._waiters -= 1
            self._forced -= force
            if not self._should_skip() and self._skipper is not None:
                self._skipper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._skipper
                self._skipper = None

    def _should_skip(self) -> bool:
        if self._forced:
            return True
        if self._auto_disabled:
            return False
        return self._waiters > 0 or (self._v2 and self._auto_allowed())

    async def _skip_loop(self) -> None:
        while True:
            await self._until_quiet()
            if not self._should_skip():
                await asyncio.sleep(self._POLL_SECONDS)
                if not self._waiters and not (self._v2 and self._auto_allowed()):
                    return
                continue
            due = await self._embedded.next_timer_due()
            now = self._clock.now()
            if self._fast_forward_until is not None and self._waiters == 0:
                due = self._fast_forward_until if due is None else min(due, self._fast_forward_until)
            if due is not None and due > now and not self._embedded.busy():
                self._jump(due)
                self._skips += 1
                await self._until_fired(due)
            else:
                await asyncio.sleep(self._POLL_SECONDS)

    async def _until_quiet(self) -> None:
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            if self._embedded.busy():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= self._QUIET_SECONDS:
                return
            await asyncio.sleep(self._POLL_SECONDS)

    async def _until_fired(self, due: datetime) -> None:
        # The timer service wakes from the jump, fires, and history deletes the row: wait until
        # the earliest timer is a later one (or gone) so the next jump does not overtake it.
        while True:
            await self._until_quiet()
            nxt = await self._embedded.next_timer_due()
            if nxt is None or nxt > due:
                return
            await asyncio.sleep(self._POLL_SECONDS)

    async def shutdown(self) -> None:
        if self._skipper is not None:
            self._skipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._skipper
        await super().shutdown()


async def _closed(handle: WorkflowHandle[Any]) -> bool:
    from tidal_schema import WorkflowExecutionStatus

    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


class TimeSkipper:
    """temporalio's client wrapper for V2 time skipping. Tidal skips time only in its embedded
    test server, so `client` must be a client of a `start_time_skipping_v2()` environment (its
    `env.client` or `env.connect_client()`); `config` applies to the whole environment."""

    def __init__(self, client: Client, *, config: TimeSkippingConfig = TimeSkippingConfig()) -> None:
        hook = client.result_wait_hook
        env = getattr(hook, "__self__", None)
        if not isinstance(env, TimeSkippingEnvironment) or not env.supports_time_skipping_v2:
            raise RuntimeError(
                "TimeSkipper needs a client of WorkflowEnvironment.start_time_skipping_v2(): Tidal "
                "skips time in its embedded test server only"
            )
        self._env = env
        self._client = client
        env.config = config

    @property
    def client(self) -> Client:
        return self._client

    @property
    def config(self) -> TimeSkippingConfig:
        return self._env.config

    @config.setter
    def config(self, value: TimeSkippingConfig) -> None:
        self._env.config = value

    async def fast_forward(
        self, handle: WorkflowHandle[Any], duration: timedelta | float | None = None, /
    ) -> bool:
        return await self._env.fast_forward(handle, duration)

    async def get_time_skipping_info(self, handle: WorkflowHandle[Any]) -> TimeSkippingInfo | None:
        return await self._env.get_time_skipping_info(handle)

    async def get_current_time(self, handle: WorkflowHandle[Any] | None = None) -> datetime:
        return await self._env.get_current_time(handle)

    @contextlib.contextmanager
    def with_time_skipping_disabled(self) -> Iterator[None]:
        with self._env.with_time_skipping_disabled():
            yield None
