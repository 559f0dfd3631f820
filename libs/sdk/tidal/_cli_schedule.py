"""`tidal schedule create|describe|list|pause|unpause|trigger|backfill|update|delete`.

Written against the SDK (`Client.create_schedule`, `get_schedule_handle`, `list_schedules`,
`ScheduleHandle`), as a user's script would be; the flags follow `temporal schedule ...`:

    tidal schedule create -s nightly --cron '0 2 * * *' --time-zone Europe/Berlin \\
        --type ReportWorkflow --task-queue reports -w report --input '"eu"'
    tidal schedule update -s nightly --interval 1h --overlap-policy buffer_one
    tidal schedule backfill -s nightly --start-time 2026-01-01T00:00:00Z --end-time 2026-01-07T00:00:00Z
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from tidal_schema import schedules as wire

from ._cli_schedule_view import LIST_HEADER, describe_rows, list_rows, when
from ._schedule_spec import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleSpec
from ._schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from ._search_attributes import TypedSearchAttributes
from .client import Client

__all__ = ["add_parsers", "run"]

Emit = Callable[[argparse.Namespace, Any, str], None]
Table = Callable[[Sequence[tuple[Any, ...]], Sequence[str]], str]

_DURATION = re.compile(r"(?:(\d{1,12})([smhd]))")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _fail(message: str) -> SystemExit:
    return SystemExit(f"tidal: {message}")


def _duration(text: str, flag: str) -> timedelta:
    """`90`, `90s`, `15m`, `1h30m`, `2d`: seconds or integers with units."""
    if text.isdecimal() and len(text) <= 12:
        return timedelta(seconds=int(text))
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise _fail(f"{flag} {text!r} is not a duration such as 30s, 15m, 1h30m, 2d or 90")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def _time(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{flag} {text!r} is not an ISO 8601 time such as 2026-01-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise _fail(f"{flag} {text!r} needs a UTC offset or Z (2026-01-01T09:00:00+01:00)")
    return value


def _overlap(text: str | None) -> ScheduleOverlapPolicy | None:
    if text is None:
        return None
    key = text.replace("-", "").replace("_", "").upper()
    for member in ScheduleOverlapPolicy:
        if member.name.replace("_", "") == key:
            return member
    names = ", ".join(m.name.lower() for m in ScheduleOverlapPolicy)
    raise _fail(f"--overlap-policy {text!r} is not one of {names}")


def _calendar(text: str, flag: str) -> ScheduleCalendarSpec:
    try:
        return ScheduleCalendarSpec.from_wire(wire.ScheduleCalendarSpec.model_validate_json(text))
    except ValidationError as exc:
        raise _fail(f"{flag} {text[:80]!r}: {_first_error(exc)}") from None


def _interval(text: str) -> ScheduleIntervalSpec:
    every, _, offset = text.partition("/")
    return ScheduleIntervalSpec(
        every=_duration(every, "--interval"),
        offset=_duration(offset, "--interval offset") if offset else None,
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _json_values(raw: Sequence[str]) -> list[Any]:
    values = []
    for item in raw:
        try:
            values.append(json.loads(item))
        except json.JSONDecodeError as exc:
            raise _fail(
                f"--input {item!r} is not JSON ({exc.msg}); quote strings: --input '\"text\"'"
            ) from None
    return values


def _search_attributes(raw: Sequence[str]) -> dict[str, Any]:
    """`NAME=JSON` pairs (a bare word that is not JSON is taken as a string, as Temporal's CLI)."""
    values: dict[str, Any] = {}
    for item in raw:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise _fail(f"--search-attribute {item!r}: use NAME=VALUE (VALUE as JSON)")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        scalar = isinstance(value, str | int | float | bool)
        if not scalar and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _fail(f"--search-attribute {item!r}: a string, number, boolean or list of strings")
        values[name] = value
    return values


# --- parsers ----------------------------------------------------------------------------------


def _spec_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("when (the spec; on update, --cron/--interval/--calendar replace all three)")
    g.add_argument("--cron", action="append", default=[], help="cron string, e.g. '0 2 * * *' (repeatable)")
    g.add_argument(
        "--interval", action="append", default=[], help="every[/offset], e.g. 1h or 1d/6h (repeatable)"
    )
    g.add_argument(
        "--calendar",
        action="append",
        default=[],
        help='calendar spec as JSON, e.g. \'{"hour": [{"start": 9}]}\'',
    )
    g.add_argument("--skip", action="append", default=None, help="calendar spec (JSON) of times to skip")
    g.add_argument("--start-time", default=None, help="no action before (ISO 8601 with offset)")
    g.add_argument("--end-time", default=None, help="no action after (ISO 8601 with offset)")
    g.add_argument("--jitter", default=None, help="random delay up to this much, e.g. 30s")
    g.add_argument("--time-zone", default=None, help="IANA zone for calendars and crons (default UTC)")


def _action_flags(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_argument_group("what (the workflow to start)")
    g.add_argument("--type", required=required, help="workflow type name")
    g.add_argument("--task-queue", "-t", required=required)
    g.add_argument("--workflow-id", "-w", required=required, help="id base: runs are <id>-<nominal time>")
    g.add_argument("--input", action="append", default=None, help="one JSON argument (repeatable)")
    for name in ("execution", "run", "task"):
        g.add_argument(f"--{name}-timeout", default=None, help=f"workflow {name} timeout, e.g. 1h")


def _policy_flags(p: argparse.ArgumentParser, *, create: bool) -> None:
    g = p.add_argument_group("policies and state")
    g.add_argument(
        "--overlap-policy", "--overlap", default=None, help="skip (default), buffer_one, buffer_all, ..."
    )
    g.add_argument("--catchup-window", default=None, help="take missed actions this old, e.g. 1h")
    g.add_argument("--pause-on-failure", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--note", default=None, help="a note on the schedule's state")
    g.add_argument("--remaining-actions", type=int, default=None, help="stop after this many actions")
    g.add_argument(
        "--search-attribute",
        action="append",
        default=None,
        help="the schedule's own search attribute NAME=VALUE, VALUE as JSON (repeatable; on update, "
        "replaces them all)",
    )
    if create:
        g.add_argument("--paused", action="store_true", help="create it paused")
        g.add_argument("--trigger-immediately", action="store_true", help="take one action now")


def add_parsers(groups: Any) -> None:
    """`groups`: the top-level sub-command group's subparsers."""
    sc = groups.add_parser("schedule", help="create and operate schedules").add_subparsers(
        dest="command", required=True
    )
    create = sc.add_parser("create", help="create a schedule")
    _spec_flags(create)
    _action_flags(create, required=True)
    _policy_flags(create, create=True)
    update = sc.add_parser("update", help="change the options given, keep the rest (read-modify-write)")
    _spec_flags(update)
    _action_flags(update, required=False)
    _policy_flags(update, create=False)
    for name, helptext in (("pause", "stop taking scheduled actions"), ("unpause", "take them again")):
        sub = sc.add_parser(name, help=helptext)
        sub.add_argument("--note", "--reason", default=None)
    trigger = sc.add_parser("trigger", help="take one action now (even while paused)")
    trigger.add_argument("--overlap-policy", "--overlap", default=None)
    backfill = sc.add_parser("backfill", help="take the actions of a past time range")
    backfill.add_argument("--start-time", "--start", required=True, help="start, inclusive (ISO 8601)")
    backfill.add_argument("--end-time", "--end", required=True, help="end, inclusive (ISO 8601)")
    backfill.add_argument("--overlap-policy", "--overlap", default=None)
    sc.add_parser("describe", help="spec, action, policies, state, counts, next action times")
    sc.add_parser("delete", help="delete a schedule (runs it started keep running)")
    listing = sc.add_parser("list", help="the namespace's schedules (those matching --query)")
    listing.add_argument(
        "--query", "-q", default=None, help="filter on their own search attributes (docs/schedules.md)"
    )
    for name, sub in sc.choices.items():
        if name != "list":
            sub.add_argument("--schedule-id", "--id", "-s", required=True)
        sub.add_argument("--output", choices=("table", "json"), default=argparse.SUPPRESS)


# --- building a schedule from flags -----------------------------------------------------------


def _spec(args: argparse.Namespace, base: ScheduleSpec | None) -> ScheduleSpec:
    spec = base or ScheduleSpec()
    if args.cron or args.interval or args.calendar:
        spec.cron_expressions = list(args.cron)
        spec.intervals = [_interval(text) for text in args.interval]
        spec.calendars = [_calendar(text, "--calendar") for text in args.calendar]
    if args.skip is not None:
        spec.skip = [_calendar(text, "--skip") for text in args.skip if text]
    if args.start_time is not None:
        spec.start_at = _time(args.start_time, "--start-time") if args.start_time else None
    if args.end_time is not None:
        spec.end_at = _time(args.end_time, "--end-time") if args.end_time else None
    if args.jitter is not None:
        spec.jitter = _duration(args.jitter, "--jitter") if args.jitter else None
    if args.time_zone is not None:
        spec.time_zone_name = args.time_zone or None
    return spec


def _action(
    args: argparse.Namespace, base: ScheduleActionStartWorkflow | None
) -> ScheduleActionStartWorkflow:
    timeouts = {
        name: _duration(value, f"--{name.replace('_', '-')}") if value else None
        for name, value in (
            ("execution_timeout", args.execution_timeout),
            ("run_timeout", args.run_timeout),
            ("task_timeout", args.task_timeout),
        )
        if value is not None
    }
    if base is None:
        return ScheduleActionStartWorkflow(
            args.type,
            args=_json_values(args.input or []),
            id=args.workflow_id,
            task_queue=args.task_queue,
            execution_timeout=timeouts.get("execution_timeout"),
            run_timeout=timeouts.get("run_timeout"),
            task_timeout=timeouts.get("task_timeout"),
        )
    if args.type is not None:
        base.workflow = args.type
    if args.input is not None:
        base.args = _json_values(args.input)
    if args.workflow_id is not None:
        base.id = args.workflow_id
    if args.task_queue is not None:
        base.task_queue = args.task_queue
    for name, value in timeouts.items():
        setattr(base, name, value)
    return base


def _policy_and_state(args: argparse.Namespace, schedule: Schedule) -> None:
    policy, state = schedule.policy, schedule.state
    overlap = _overlap(args.overlap_policy)
    if overlap is not None:
        policy.overlap = overlap
    if args.catchup_window is not None:
        policy.catchup_window = _duration(args.catchup_window, "--catchup-window")
    if args.pause_on_failure is not None:
        policy.pause_on_failure = args.pause_on_failure
    if args.note is not None:
        state.note = args.note or None
    if args.remaining_actions is not None:
        if args.remaining_actions < 0:
            raise _fail("--remaining-actions cannot be negative")
        state.limited_actions = args.remaining_actions > 0
        state.remaining_actions = args.remaining_actions
    if getattr(args, "paused", False):
        state.paused = True


# --- commands ---------------------------------------------------------------------------------


async def run(client: Client, args: argparse.Namespace, emit: Emit, table: Table) -> int:
    try:
        return await _run(client, args, emit, table)
    except ValidationError as exc:  # a spec the schema refuses, before it is sent
        raise _fail(f"error: {_first_error(exc)}") from None


async def _run(client: Client, args: argparse.Namespace, emit: Emit, table: Table) -> int:
    if args.command == "list":
        entries = [entry async for entry in await client.list_schedules(args.query)]
        emit(args, [e.raw_entry for e in entries], table(list_rows(entries), LIST_HEADER))
        return 0
    sid = args.schedule_id
    handle = client.get_schedule_handle(sid)
    if args.command == "create":
        schedule = Schedule(action=_action(args, None), spec=_spec(args, None), state=ScheduleState())
        _policy_and_state(args, schedule)
        await client.create_schedule(
            sid,
            schedule,
            trigger_immediately=args.trigger_immediately,
            search_attributes=_search_attributes(args.search_attribute or []),
        )
        emit(args, {"schedule_id": sid, "created": True}, f"Created schedule {sid}")
    elif args.command == "update":

        def change(given: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = given.description.schedule
            schedule.spec = _spec(args, schedule.spec)
            assert isinstance(schedule.action, ScheduleActionStartWorkflow)
            schedule.action = _action(args, schedule.action)
            _policy_and_state(args, schedule)
            if args.search_attribute is None:
                return ScheduleUpdate(schedule=schedule)
            attributes = TypedSearchAttributes.from_json(_search_attributes(args.search_attribute))
            return ScheduleUpdate(schedule=schedule, search_attributes=attributes)

        await handle.update(change)
        emit(args, {"schedule_id": sid, "updated": True}, f"Updated schedule {sid}")
    elif args.command == "describe":
        d = await handle.describe()
        emit(args, d.raw_description, table(describe_rows(d), ("Field", "Value")))
    elif args.command in ("pause", "unpause"):
        await (handle.pause if args.command == "pause" else handle.unpause)(note=args.note)
        paused = args.command == "pause"
        emit(args, {"schedule_id": sid, "paused": paused}, f"{args.command.capitalize()}d schedule {sid}")
    elif args.command == "trigger":
        await handle.trigger(overlap=_overlap(args.overlap_policy))
        emit(args, {"schedule_id": sid, "triggered": True}, f"Triggered schedule {sid}")
    elif args.command == "backfill":
        start, end = _time(args.start_time, "--start-time"), _time(args.end_time, "--end-time")
        if end < start:
            raise _fail("--end-time is before --start-time")
        await handle.backfill(
            ScheduleBackfill(start_at=start, end_at=end, overlap=_overlap(args.overlap_policy))
        )
        emit(
            args,
            {"schedule_id": sid, "backfilled": [start.isoformat(), end.isoformat()]},
            f"Backfilled schedule {sid} from {when(start)} to {when(end)}",
        )
    elif args.command == "delete":
        await handle.delete()
        emit(args, {"schedule_id": sid, "deleted": True}, f"Deleted schedule {sid}")
    return 0
