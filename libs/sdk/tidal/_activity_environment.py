"""`tidal.testing.ActivityEnvironment`: run an activity function outside a worker, with the
activity context (`activity.info()`, `heartbeat()`, cancellation, worker shutdown, `client()`)
driven by the test, as temporalio's."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import activity as _activity
from ._data_converter import DataConverter
from ._payload_converter import PayloadConverter
from .common import Priority

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ActivityEnvironment"]

P = ParamSpec("P")
T = TypeVar("T")

_CANCEL_REQUESTED = _activity.ActivityCancellationDetails(cancel_requested=True)


class ActivityEnvironment:
    """Runs activity code in an activity context the test controls.

    `info` is what `activity.info()` returns (start from `default_info()` and change it with
    `dataclasses.replace`); `on_heartbeat` is called with the details of every
    `activity.heartbeat()`. `cancel()` and `worker_shutdown()` reach the activities running now
    and any started later. An async activity sees cancellation as `asyncio.CancelledError` at its
    current await; a sync one only through `activity.is_cancelled()` /
    `wait_for_cancelled_sync()` (Tidal never raises into an activity's thread).
    `activity.client()` is `client` in async activities (RuntimeError without one, and in sync
    ones, as in temporalio)."""

    def __init__(self, client: Client | None = None) -> None:
        self.info = ActivityEnvironment.default_info()
        self.on_heartbeat: Callable[..., None] = lambda *details: None
        # What `activity.payload_converter()` returns, as temporalio's `payload_converter`.
        self.payload_converter: PayloadConverter = DataConverter.default.payload_converter
        self._client = client
        self._cancelled: _activity.ActivityCancellationDetails | None = None
        self._shutdown = False
        self._running: set[_Run] = set()

    @staticmethod
    def default_info() -> _activity.Info:
        """The info activities get unless the test sets another."""
        epoch = datetime.fromtimestamp(0, UTC)
        return _activity.Info(
            activity_id="test",
            activity_type="unknown",
            attempt=1,
            current_attempt_scheduled_time=epoch,
            heartbeat_details=[],
            heartbeat_timeout=None,
            is_local=False,
            namespace="default",
            schedule_to_close_timeout=timedelta(seconds=1),
            scheduled_time=epoch,
            start_to_close_timeout=timedelta(seconds=1),
            started_time=epoch,
            task_queue="test",
            task_token=b"test",
            workflow_id="test",
            workflow_namespace="default",
            workflow_run_id="test-run",
            workflow_type="test",
            priority=Priority.default,
            retry_policy=None,
            activity_run_id=None,
        )

    def cancel(self, cancellation_details: _activity.ActivityCancellationDetails = _CANCEL_REQUESTED) -> None:
        """Cancel the activities (only the first call counts), with the details
        `activity.cancellation_details()` returns."""
        if self._cancelled is not None:
            return
        self._cancelled = cancellation_details
        for run in list(self._running):
            run.cancel(cancellation_details)

    def worker_shutdown(self) -> None:
        """Tell the activities the worker is shutting down (`activity.is_worker_shutdown()`)."""
        if self._shutdown:
            return
        self._shutdown = True
        for run in list(self._running):
            run.ctx.worker_shutdown()

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn` in an activity context: the result of a sync function, or for an async one an
        awaitable of its result (await it)."""
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - callable objects with an async __call__
        )
        run = _Run(self, is_async=is_async)
        if is_async:
            return run.run_async(fn, *args, **kwargs)  # type: ignore[return-value, arg-type]
        with run:
            return fn(*args, **kwargs)


class _Run:
    """One call's context; entered while the activity runs."""

    def __init__(self, env: ActivityEnvironment, *, is_async: bool) -> None:
        self.env = env
        self.ctx = _activity._Context(
            info=env.info,
            heartbeat=lambda *details: env.on_heartbeat(*details),
            client=env._client if is_async else None,
            payload_converter=env.payload_converter,
        )
        self.task: asyncio.Task[Any] | None = None
        self._token: Any = None

    def __enter__(self) -> _Run:
        if self.env._cancelled is not None:
            self.ctx.cancel(self.env._cancelled)
        if self.env._shutdown:
            self.ctx.worker_shutdown()
        self.env._running.add(self)
        self._token = _activity._set_context(self.ctx)
        return self

    def __exit__(self, *exc: object) -> None:
        _activity._reset_context(self._token)
        self.env._running.discard(self)

    async def run_async(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        with self:
            # Its own task, so that cancel() interrupts it where it waits.
            self.task = asyncio.ensure_future(fn(*args, **kwargs))
            if self.ctx.cancelled:
                self.task.cancel()
            return await self.task

    def cancel(self, details: _activity.ActivityCancellationDetails) -> None:
        self.ctx.cancel(details)
        if self.task is not None and not self.task.done():
            self.task.cancel()
