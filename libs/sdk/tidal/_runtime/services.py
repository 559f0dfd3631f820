"""What workflow code can ask of its run: activities, timers, conditions, patches, time, info.

`workflow.*` functions reach these methods through the running loop's `tidal_instance`; each one
records a command for the activation in progress. Kept apart from `instance.py`, which drives these
from history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tidal_schema import Payload
from tidal_schema.commands import (
    CancelTimer,
    Command,
    ModifyWorkflowPropertiesCommand,
    RecordMarker,
    RequestCancelActivityTask,
    ScheduleActivityTask,
    StartTimer,
    UpsertWorkflowSearchAttributesCommand,
)
from tidal_schema.limits import MAX_DURATION_SECONDS

from .._search_attributes import TypedSearchAttributes
from .._workflow_activities import ActivityCancellationType, ActivityHandle
from .._workflow_context import ReadOnlyContextError
from .._workflow_info import Info
from ..common import Priority, RetryPolicy
from ..converter import DataConverter
from . import matching
from .local_activities import LocalActivities
from .loop import WorkflowEventLoop

_T = TypeVar("_T")


@dataclass
class _Activity:
    activity_id: str
    activity_type: str
    command: ScheduleActivityTask
    future: asyncio.Future[Any]
    result_type: Any
    scheduled_event_id: int | None = None
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


class WorkflowServices(LocalActivities):
    def __init__(self, *, run_id: str, converter: DataConverter | None) -> None:
        self.converter = converter or DataConverter.default
        self._loop = WorkflowEventLoop(self)  # type: ignore[abstract]
        self._init_local_activities()
        # Seeded from the run id (str seeds hash with sha512, stable across processes).
        self.random = random.Random(run_id)
        # The same seed as an int (what `random.Random(str)` computes), for `workflow.random_seed()`:
        # `random.Random(random_seed)` draws what `workflow.random()` draws.
        raw = run_id.encode()
        self.random_seed = int.from_bytes(raw + hashlib.sha512(raw).digest())
        # Never called: Temporal reseeds on a workflow reset, which Tidal does not have.
        self.random_seed_callbacks: list[Callable[[int], None]] = []
        self.is_replaying = False
        self._info: Info | None = None
        self._now = datetime.fromtimestamp(0, UTC)
        self._commands: list[Command] = []  # produced by the activation in progress
        self._task_failure: BaseException | None = None  # non-Failure error: fails the task
        self._activity_seq = 0
        self._timer_seq = 0
        self._activities: dict[str, _Activity] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timer_of_handle: dict[int, tuple[str, StartTimer]] = {}  # id(handle) -> timer
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []
        self._patches: dict[str, bool] = {}
        self._patches_in_task: set[str] = set()
        self._read_only = False  # in a query handler or an update validator
        # The summary for the durable timer the next `call_later` makes (`timer_summary`).
        self._timer_summary: str | None = None
        # `workflow.set_current_details`: sent with every workflow task completion.
        self.current_details = ""

    @property
    def is_read_only(self) -> bool:
        return self._read_only

    def read_only(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Call `fn` where workflow code may only read (a query, an update validator)."""
        before, self._read_only = self._read_only, True
        try:
            return fn(*args)
        finally:
            self._read_only = before

    def assert_not_read_only(self, what: str) -> None:
        if self._read_only:
            raise ReadOnlyContextError(f"While in read-only function, action attempted: {what}")

    def call_later_with_summary(
        self, seconds: float, callback: Callable[[], None], summary: str | None
    ) -> asyncio.TimerHandle:
        """`loop.call_later` whose durable timer carries `summary` (temporalio's user metadata)."""
        self._timer_summary = summary
        try:
            return self._loop.call_later(seconds, callback)
        finally:
            self._timer_summary = None

    def _add_command(self, cmd: Command) -> None:
        """Every command workflow code produces comes through here, so a query handler or an
        update validator that tries one gets ReadOnlyContextError at the call."""
        self.assert_not_read_only(f"add command {type(cmd).__name__}")
        self._commands.append(cmd)

    @property
    def info(self) -> Info:
        if self._info is None:
            raise RuntimeError("workflow info is not available before the run starts")
        return self._info

    def now(self) -> datetime:
        return self._now

    def upsert_memo(self, payloads: Mapping[str, Payload]) -> None:
        """Record the memo upsert and show it in `info().raw_memo` at once (as temporalio): a
        `binary/null` payload (None) removes its key."""
        self._add_command(ModifyWorkflowPropertiesCommand(upserted_memo=dict(payloads)))
        memo = dict(self.info.raw_memo)
        for key, payload in payloads.items():
            if payload.metadata.get("encoding") == "binary/null":
                memo.pop(key, None)
            else:
                memo[key] = payload
        self._info = dataclasses.replace(self.info, raw_memo=memo)

    def upsert_search_attributes(self, values: Mapping[str, Any]) -> None:
        """Record the upsert command and show the new values in `info()` at once (as temporalio);
        replay runs the same code, so the info stays deterministic."""
        self._add_command(UpsertWorkflowSearchAttributesCommand(search_attributes=dict(values)))
        merged = {**self.info.search_attributes, **values}
        current = {k: v for k, v in merged.items() if v is not None}
        self._info = dataclasses.replace(
            self.info,
            search_attributes=current,
            typed_search_attributes=TypedSearchAttributes.from_json(current),
        )

    def add_condition(self, fn: Callable[[], bool]) -> asyncio.Future[Any]:
        fut = self._loop.create_future()
        self._conditions.append((fn, fut))
        return fut

    def patch(self, patch_id: str, *, deprecated: bool) -> bool:
        if patch_id in self._patches:
            return self._patches[patch_id]
        # New code path when running for the first time, or when the original run took it.
        take = not self.is_replaying or patch_id in self._patches_in_task
        if take:
            details = {"patch_id": (Payload(data=patch_id),), "deprecated": (Payload(data=deprecated),)}
            self._add_command(RecordMarker(marker_name=matching.PATCH_MARKER, details=details))
        self._patches[patch_id] = take or deprecated
        return take or deprecated

    def start_activity(
        self,
        *,
        activity_type: str,
        args: list[Any],
        task_queue: str | None,
        result_type: Any,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        heartbeat_timeout: timedelta | None,
        retry_policy: RetryPolicy | None,
        activity_id: str | None,
        cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
        priority: Priority = Priority.default,
        summary: str | None = None,
    ) -> ActivityHandle[Any]:
        self._activity_seq += 1
        aid = activity_id or str(self._activity_seq)
        if aid in self._activities:
            raise ValueError(f"activity id {aid!r} already used in this run")
        cmd = ScheduleActivityTask(
            activity_id=aid,
            activity_type=activity_type,
            task_queue=task_queue or self.info.task_queue,
            input=self.converter.to_payloads(args),
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            start_to_close_timeout=start_to_close_timeout,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy.to_schema() if retry_policy else None,
            priority=priority.to_schema(),
            summary=summary,
        )
        act = _Activity(
            aid, activity_type, cmd, self._loop.create_future(), result_type, None, cancellation_type
        )
        self._activities[aid] = act
        self._add_command(cmd)
        return ActivityHandle(self._await_activity(act), loop=self._loop, name=f"activity:{aid}")

    async def _await_activity(self, act: _Activity) -> Any:
        # Shielded: cancelling the handle must not cancel the future history resolves, which
        # WAIT_CANCELLATION_COMPLETED still waits on.
        try:
            return await asyncio.shield(act.future)
        except asyncio.CancelledError:
            if act.future.done():
                raise
            never_sent = self._remove_command(act.command)
            kind = act.cancellation_type
            sent = not never_sent and act.scheduled_event_id is not None
            if sent and kind is not ActivityCancellationType.ABANDON:
                assert act.scheduled_event_id is not None
                self._add_command(RequestCancelActivityTask(scheduled_event_id=act.scheduled_event_id))
            if never_sent or kind is not ActivityCancellationType.WAIT_CANCELLATION_COMPLETED:
                # Try-cancel and abandon: the workflow goes on at once; the outcome is ignored.
                act.future.cancel()
                raise
        # Wait for the activity to report it stopped (ActivityTaskCanceled -> ActivityError), or
        # for its result if it finished anyway. A second cancel of the handle stops the wait.
        return await act.future

    def _remove_command(self, cmd: Command) -> bool:
        """Drop a command produced in this activation (it never reaches the server)."""
        for i, c in enumerate(self._commands):
            if c is cmd:
                del self._commands[i]
                return True
        return False

    def start_timer(self, handle: asyncio.TimerHandle, delay: float) -> None:
        if not delay <= MAX_DURATION_SECONDS:  # also NaN; infinity would overflow below
            # Fails this workflow task with a clear cause, instead of a timer history cannot set.
            raise ValueError(
                f"workflow timer of {delay}s exceeds the maximum duration of "
                f"{MAX_DURATION_SECONDS}s (100 years)"
            )
        self._timer_seq += 1
        tid = str(self._timer_seq)
        # Millisecond precision: loop time is float epoch seconds, so `call_at` deltas carry noise.
        ms = max(1, round(delay * 1000))
        cmd = StartTimer(
            timer_id=tid, start_to_fire_timeout=timedelta(milliseconds=ms), summary=self._timer_summary
        )
        self._timers[tid] = handle
        self._timer_of_handle[id(handle)] = (tid, cmd)
        self._add_command(cmd)

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        entry = self._timer_of_handle.pop(id(handle), None)
        if entry is None:  # already fired, or a zero-delay handle with no durable timer
            return
        tid, cmd = entry
        self._timers.pop(tid, None)
        if not self._remove_command(cmd):
            self._add_command(CancelTimer(timer_id=tid))

    def callback_failed(self, exc: BaseException) -> None:
        self._task_failure = self._task_failure or exc
