"""The running workflow's context: how workflow-side functions find their `WorkflowInstance`
(through the running event loop, which during an activation is the instance's deterministic
loop), and the functions that only read or use it (time, randomness, patches, memo, timers,
conditions, search attributes, the replay-safe logger). Part of `tidal.workflow`'s API
(re-exported there)."""

from __future__ import annotations

import asyncio
import random as _random_mod
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._search_attributes import SearchAttributeUpdate
from ._visibility import encode_search_attributes
from .exceptions import TidalError, failure_to_error

if TYPE_CHECKING:
    from ._runtime.instance import WorkflowInstance
    from ._workflow_info import Info
    from .converter import DataConverter

__all__ = [
    "ReadOnlyContextError",
    "all_handlers_finished",
    "cancellation_reason",
    "deprecate_patch",
    "get_last_completion_result",
    "get_last_failure",
    "has_last_completion_result",
    "in_workflow",
    "info",
    "instance",
    "is_failure_exception",
    "memo",
    "memo_value",
    "new_random",
    "now",
    "patched",
    "payload_converter",
    "random",
    "random_seed",
    "register_random_seed_callback",
    "sleep",
    "time",
    "time_ns",
    "unsafe",
    "upsert_search_attributes",
    "uuid4",
    "uuid7",
    "wait_condition",
]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _rt() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    instance = getattr(loop, "tidal_instance", None)
    if instance is None:
        raise RuntimeError("Not in workflow event loop: this function only works inside workflow code")
    return instance  # type: ignore[no-any-return]


def in_workflow() -> bool:
    try:
        _rt()
    except RuntimeError:
        return False
    return True


def payload_converter() -> DataConverter:
    """The worker's data converter (e.g. to convert a dynamic signal's `RawValue`s)."""
    return _rt().converter


def memo() -> dict[str, Any]:
    """The memo given at start (values as JSON-compatible Python), as temporalio's."""
    conv = _rt().converter
    return {k: conv.from_payload(p) for k, p in info().raw_memo.items()}


def memo_value(key: str, default: Any = _MISSING, *, type_hint: Any = None) -> Any:
    """One memo value, converted to `type_hint`; KeyError without a default, as temporalio."""
    payload = info().raw_memo.get(key)
    if payload is None:
        if default is _MISSING:
            raise KeyError(f"memo has no key {key!r}")
        return default
    return _rt().converter.from_payload(payload, type_hint)


def info() -> Info:
    """The run's info (through the workflow outbound interceptors, as temporalio's)."""
    return _rt().outbound.info()


def cancellation_reason() -> str | None:
    """The reason given with the request that cancelled this workflow (`WorkflowHandle.cancel(
    reason=...)`; an empty string when none was given), or None if no cancellation was requested:
    tells a workflow-level cancel from an inner task's `asyncio.CancelledError`, as temporalio's."""
    return _rt().cancellation_reason


def instance() -> Any:
    """The running workflow's object (the instance of the `@workflow.defn` class), as
    temporalio's. None before the run starts (in a query on a run not yet started)."""
    return _rt().workflow_object


def all_handlers_finished() -> bool:
    """No signal or update handler is still running: wait for it before returning from `run`
    (`await workflow.wait_condition(workflow.all_handlers_finished)`), as in temporalio."""
    return not _rt().handlers.running


def now() -> datetime:
    """Workflow time: the scheduled time of the current workflow task (UTC), equal on replay."""
    return _rt().now()


def time() -> float:
    """`now()` as seconds since the epoch."""
    return _rt().now().timestamp()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_ns() -> int:
    """`now()` as nanoseconds since the epoch (exact, no float rounding), as temporalio's."""
    return (_rt().now() - _EPOCH) // timedelta(microseconds=1) * 1000


def random() -> _random_mod.Random:
    """A `random.Random` seeded per run, so replays draw the same numbers."""
    return _rt().randomness.random


def uuid4() -> uuid.UUID:
    return uuid.UUID(int=_rt().randomness.random.getrandbits(128), version=4)


def get_last_failure() -> BaseException | None:
    """The failure of the attempt this run retries (its workflow retry policy), as the error
    it was; None in a first attempt."""
    failure = _rt().last_failure
    return failure_to_error(failure) if failure is not None else None


def has_last_completion_result() -> bool:
    """Whether the previous cron run left a result. Tidal has no cron schedules (use a
    schedule), so this is False."""
    return bool(_rt().last_completion_result)


def get_last_completion_result(type_hint: type | None = None) -> Any | None:
    """The previous cron run's result (see `has_last_completion_result`), or None."""
    payloads = _rt().last_completion_result
    return _rt().converter.from_payloads(payloads[:1], [type_hint])[0] if payloads else None


def random_seed() -> int:
    """The seed of `workflow.random()` (derived from the run id): `random.Random(seed)` draws the
    same numbers."""
    return _rt().randomness.seed


def register_random_seed_callback(callback: Callable[[int], None]) -> None:
    """Call `callback(seed)` when the run's seed changes. In Temporal that happens on a workflow
    reset, which Tidal does not have, so the callback is kept but never called."""
    rt = _rt()
    rt.assert_not_read_only("register random seed callback")
    rt.randomness.seed_callbacks.append(callback)


def new_random(name: str | None = None) -> _random_mod.Random:
    """A `random.Random` of its own, deterministic on replay: without `name` it starts as
    `workflow.random()` does; each name gives another sequence."""
    seed = random_seed()
    rng = _random_mod.Random(seed if name is None else f"{seed}:{name}")
    register_random_seed_callback(lambda s: rng.seed(s if name is None else f"{s}:{name}"))
    return rng


def uuid7() -> uuid.UUID:
    """A version 7 UUID, deterministic on replay: the first 48 bits are `workflow.now()` in
    milliseconds (so uuids of later workflow tasks sort later), the other 74 come from
    `workflow.random()`. Not for secrets."""
    ms = (time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF
    rng = random()
    rand_a, rand_b = rng.getrandbits(12), rng.getrandbits(62)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def is_failure_exception(err: BaseException) -> bool:
    """Whether `err`, raised by workflow code, fails the workflow (a `FailureError`, or a type in
    the worker's or the workflow's `failure_exception_types`) rather than only its task."""
    return _rt().is_failure_exception(err)


def patched(id: str) -> bool:
    """True on new code paths; False when replaying history recorded before the patch."""
    return _rt().patches.patch(id, deprecated=False)


def deprecate_patch(id: str) -> None:
    """Once no run predating `patched(id)` remains, keep only the new branch and call this."""
    _rt().patches.patch(id, deprecated=True)


class ReadOnlyContextError(TidalError):
    """Workflow code tried to change the run (start an activity or timer, set a handler...) where
    only reading is allowed: in a query handler or an update validator, as temporalio's."""


class unsafe:  # lower case: mirrors temporalio.workflow.unsafe
    @staticmethod
    def is_replaying() -> bool:
        """The code runs again over history already recorded (its commands are checked, not
        sent); false in queries, as in temporalio."""
        return _rt().is_replaying

    @staticmethod
    def is_replaying_history_events() -> bool:
        """As `is_replaying`, except in a query or an update validator on a replaying run (here
        the same: neither counts as replaying history events)."""
        return _rt().is_replaying

    @staticmethod
    def is_read_only() -> bool:
        """In a query handler or an update validator: any command raises `ReadOnlyContextError`."""
        return _rt().is_read_only


async def sleep(duration: float | timedelta, *, summary: str | None = None) -> None:
    """A durable timer. `asyncio.sleep` in workflow code is durable too (the loop's call_later).
    `summary` is recorded on the timer's `TimerStarted` event (temporalio's user metadata)."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if summary is None or seconds <= 0:
        await asyncio.sleep(seconds)
        return
    rt = _rt()
    fut: asyncio.Future[None] = rt.loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    handle = rt.timers.call_later_with_summary(seconds, wake, summary)
    try:
        await fut
    finally:
        handle.cancel()  # a cancelled sleep cancels its timer, as asyncio.sleep does


async def wait_condition(
    fn: Callable[[], bool],
    *,
    timeout: float | timedelta | None = None,
    timeout_summary: str | None = None,
) -> None:
    """Wait until `fn()` is true (checked whenever workflow code goes idle). On timeout raises
    `asyncio.TimeoutError`, like temporalio; `timeout_summary` is recorded on the timeout's
    `TimerStarted` event."""
    rt = _rt()
    fut = rt.conditions.add(fn)
    if timeout is None:
        await fut
        return
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if timeout_summary is None or seconds <= 0:
        # asyncio.wait_for on purpose, as temporalio: on Python 3.11 a workflow cancel in the
        # activation that makes `fn()` true is swallowed, but the deterministic loop does that the
        # same way on every replay; asyncio.timeout would raise there instead, and replaying a
        # history recorded with wait_for would then diverge (a nondeterminism).
        await asyncio.wait_for(fut, seconds)
        return
    timed_out = False

    def expire() -> None:
        nonlocal timed_out
        if not fut.done():
            timed_out = True
            fut.cancel()

    handle = rt.timers.call_later_with_summary(seconds, expire, timeout_summary)
    try:
        await fut
    except asyncio.CancelledError:
        if timed_out:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


def upsert_search_attributes(
    attributes: Sequence[SearchAttributeUpdate[Any]] | Mapping[str, Any],
) -> None:
    """Set (or unset) custom search attributes of this run, so lists can filter on them
    (`client.list_workflows("CustomerId = 'c-42'")`). As temporalio, a list of typed updates
    (`[CUSTOMER_ID.value_set("c-42"), PRIORITY.value_unset()]`); also a mapping of name to value
    (None removes it). Values: str (Keyword, or Text if registered so), int, float, bool, an aware
    datetime, or a list of str. Recorded as a command, so the change is durable and replays
    deterministically."""
    if isinstance(attributes, Mapping):
        pairs = dict(attributes)
    else:
        pairs = {u.key.name: u.value for u in attributes}
    for name, value in pairs.items():
        ok = isinstance(value, str | int | float | bool | datetime | None) or (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise TypeError(f"search attribute {name!r}: unsupported value type {type(value).__name__}")
    _rt().upsert_search_attributes(encode_search_attributes(pairs))
