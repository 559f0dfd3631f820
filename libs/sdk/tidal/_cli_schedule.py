"""`tidal schedule create|describe|list|pause|unpause|trigger|backfill|update|delete`
(docs/schedules.md), over the SDK's schedule calls.

    tidal schedule create --id nightly --type Report --task-queue reports --workflow-id report \\
        --cron "0 2 * * *" --time-zone Europe/Berlin --overlap buffer_one --input '"eu"'
    tidal schedule backfill --id nightly --start 2026-01-01T00:00:00Z --end 2026-01-07T00:00:00Z
    tidal schedule list --output json
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ._schedule_spec import ScheduleIntervalSpec, ScheduleSpec
from ._schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from .client import Client

__all__ = ["add_parsers", "run"]

_OVERLAPS = [p.name.lower() for p in ScheduleOverlapPolicy]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

Emit = Callable[[argparse.Namespace, Any, str], None]
Table = Callable[[Sequence[tuple[Any, ...]], Sequence[str]], str]


def _duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use 90, 90s, 15m, 2h or 1d")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def _overlap(text: str) -> ScheduleOverlapPolicy:
    return ScheduleOverlapPolicy[text.upper()]


def add_parsers(groups: Any) -> None:
    sc = groups.add_parser("schedule", help="create and operate schedules").add_subparsers(
        dest="command", required=True
    )
    create = sc.add_parser("create", help="create a schedule that starts a workflow")
    create.add_argument("--type", required=True, help="workflow type name")
    create.add_argument("--task-queue", required=True)
    create.add_argument("--workflow-id", required=True, help="id base: runs are <id base>-<nominal time>")
    create.add_argument("--input", action="append", default=[], help="one JSON argument (repeatable)")
    update = sc.add_parser("update", help="change the spec, overlap policy or note (read-modify-write)")
    for sub in (create, update):
        sub.add_argument("--cron", action="append", default=[], help="cron expression (repeatable)")
        sub.add_argument("--interval", action="append", type=_duration, default=[], help="every (repeatable)")
        sub.add_argument("--time-zone", default=None, help="IANA zone for cron, e.g. Europe/Berlin")
        sub.add_argument("--overlap", type=_overlap, default=None, metavar="|".join(_OVERLAPS))
        sub.add_argument("--note", default=None)
    create.add_argument("--paused", action="store_true")
    create.add_argument("--catchup-window", type=_duration, default=None)
    sc.add_parser("list", help="the namespace's schedules")
    for name, helptext in (("describe", "show a schedule"), ("delete", "delete (its runs keep running)")):
        sc.add_parser(name, help=helptext)
    for name in ("pause", "unpause"):
        sc.add_parser(name, help=f"{name} with a note").add_argument("--note", default=None)
    sc.add_parser("trigger", help="take the action now").add_argument(
        "--overlap", type=_overlap, default=None, metavar="|".join(_OVERLAPS)
    )
    backfill = sc.add_parser("backfill", help="take the actions of a past time range")
    backfill.add_argument("--start", required=True, type=datetime.fromisoformat, help="ISO 8601, inclusive")
    backfill.add_argument("--end", required=True, type=datetime.fromisoformat, help="ISO 8601, inclusive")
    backfill.add_argument("--overlap", type=_overlap, default=None, metavar="|".join(_OVERLAPS))
    for sub in sc.choices.values():
        if sub.prog.split()[-1] != "list":
            sub.add_argument("--id", "-s", required=True, help="schedule id")
        sub.add_argument("--output", choices=("table", "json"), default=argparse.SUPPRESS)


def _spec(args: argparse.Namespace, current: ScheduleSpec | None = None) -> ScheduleSpec:
    if not args.cron and not args.interval:
        if current is None:
            raise SystemExit("tidal: give --cron or --interval")
        return current
    return ScheduleSpec(
        cron_expressions=list(args.cron),
        intervals=[ScheduleIntervalSpec(every=every) for every in args.interval],
        time_zone_name=args.time_zone,
    )


async def run(
    client: Client, args: argparse.Namespace, emit: Emit, table: Table, values: Callable[..., Any]
) -> int:
    if args.command == "list":
        found = [s async for s in await client.list_schedules()]
        listed: list[tuple[Any, ...]] = [
            (
                s.id,
                s.schedule.action.workflow if s.schedule else None,  # type: ignore[attr-defined]
                "paused" if s.schedule and s.schedule.state.paused else "active",
                s.info.next_action_times[0].isoformat() if s.info and s.info.next_action_times else None,
            )
            for s in found
        ]
        emit(
            args,
            [s.raw_entry for s in found],
            table(listed, ("Schedule ID", "Workflow type", "State", "Next action")),
        )
        return 0
    handle = client.get_schedule_handle(args.id)
    if args.command == "create":
        await client.create_schedule(
            args.id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    args.type, args=values(args.input), id=args.workflow_id, task_queue=args.task_queue
                ),
                spec=_spec(args),
                policy=SchedulePolicy(
                    overlap=args.overlap or ScheduleOverlapPolicy.SKIP, catchup_window=args.catchup_window
                ),
                state=ScheduleState(note=args.note, paused=args.paused),
            ),
        )
        emit(args, {"schedule_id": args.id}, f"Created schedule {args.id}")
    elif args.command == "describe":
        d = await handle.describe()
        info = d.info
        rows: list[tuple[Any, ...]] = [
            ("Schedule ID", d.id),
            ("Workflow type", getattr(d.schedule.action, "workflow", "")),
            (
                "State",
                ("paused" if d.schedule.state.paused else "active") + f" {d.schedule.state.note or ''}",
            ),
            ("Overlap", d.schedule.policy.overlap.name.lower()),
            ("Actions", info.num_actions),
            ("Skipped (overlap)", info.num_actions_skipped_overlap),
            ("Missed (catch-up)", info.num_actions_missed_catchup_window),
            ("Running", ", ".join(getattr(r, "workflow_id", "") for r in info.running_actions)),
            ("Next actions", ", ".join(t.isoformat() for t in info.next_action_times[:3])),
        ]
        rows += [
            ("Recent", f"{a.scheduled_at.isoformat()} {getattr(a.action, 'workflow_id', '')}")
            for a in info.recent_actions
        ]
        emit(args, d.raw_description, table(rows, ("Field", "Value")))
    elif args.command in ("pause", "unpause"):
        await (handle.pause if args.command == "pause" else handle.unpause)(note=args.note)
        emit(
            args,
            {"schedule_id": args.id, args.command + "d": True},
            f"{args.command.capitalize()}d {args.id}",
        )
    elif args.command == "trigger":
        await handle.trigger(overlap=args.overlap)
        emit(args, {"schedule_id": args.id, "triggered": True}, f"Triggered {args.id}")
    elif args.command == "backfill":
        await handle.backfill(ScheduleBackfill(start_at=args.start, end_at=args.end, overlap=args.overlap))
        emit(args, {"schedule_id": args.id, "backfilled": True}, f"Backfilled {args.id}")
    elif args.command == "update":

        def change(inp: ScheduleUpdateInput) -> ScheduleUpdate:
            s = inp.description.schedule
            s.spec = _spec(args, s.spec)
            if args.overlap is not None:
                s.policy.overlap = args.overlap
            if args.note is not None:
                s.state.note = args.note
            return ScheduleUpdate(schedule=s)

        await handle.update(change)
        emit(args, {"schedule_id": args.id, "updated": True}, f"Updated {args.id}")
    elif args.command == "delete":
        await handle.delete()
        emit(args, {"schedule_id": args.id, "deleted": True}, f"Deleted {args.id}")
    return 0
