"""Schedules under chaos: a few every-second schedules run through the whole fault window, then
their runs are judged (docs/schedules.md, docs/testing.md#chaos).

- `all`: ALLOW_ALL, a run that closes at once. Every nominal second from the first after the
  create to the last taken must have exactly one run (`<base>-<nominal time>`), none twice, none
  missing; nothing may be counted missed (the catch-up window, 10 minutes, is longer than any
  outage the suite causes).
- `skip` and `buffer_one`: a run that stays open 2.5 s. The policy must hold: never two runs of
  one schedule open at once (each run starts at or after the previous one closed), runs in
  nominal order, and actions skipped.

The runs are found with `TemporalScheduledById` (the HTTP list API) and the counts with
describe; the schedules' workflow ids do not start with the workload's prefix, so the workflow
checker never sees them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .client import ApiClient
from .workload import SCHEDULE_TASK_QUEUE

__all__ = ["SCHEDULES", "ScheduleVerdict", "check_schedules", "create_schedules", "judge", "pause_schedules"]

SLOW_SECONDS = 2.5
CATCHUP_WINDOW = "PT10M"
# name -> (overlap policy, workflow type, input)
SCHEDULES: dict[str, tuple[str, str, Any]] = {
    "all": ("allow_all", "ScheduledTick", "tick"),
    "skip": ("skip", "ScheduledSlow", SLOW_SECONDS),
    "buffer_one": ("buffer_one", "ScheduledSlow", SLOW_SECONDS),
}


@dataclass
class ScheduleVerdict:
    name: str
    policy: str
    created: bool = False
    paused: bool = False
    actions: int = 0  # describe's num_actions
    runs: int = 0  # rows found by TemporalScheduledById
    duplicated: int = 0  # workflow ids (base + nominal time) with more than one run
    gaps: int = 0  # nominal seconds in the window with no run (ALLOW_ALL)
    overlaps: int = 0  # runs started before the previous one closed (SKIP, BUFFER_ONE)
    out_of_order: int = 0
    not_completed: int = 0  # runs not closed Completed at the end
    skipped: int = 0
    missed: int = 0
    paused_at: float = 0.0  # wall time the pause was acknowledged (it committed before)
    tail_seconds: float = 0.0  # from the last nominal time taken to the pause's acknowledgement
    after_pause: int = 0  # nominal times taken after the pause was acknowledged
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = (
            self.duplicated
            + self.gaps
            + self.overlaps
            + self.out_of_order
            + self.not_completed
            + self.after_pause
        )
        return self.created and self.paused and bad == 0 and self.missed == 0 and self.actions == self.runs


def schedule_id(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


async def create_schedules(api: ApiClient, prefix: str) -> dict[str, ScheduleVerdict]:
    verdicts = {}
    for name, (policy, wf_type, arg) in SCHEDULES.items():
        sid = schedule_id(prefix, name)
        body = {
            "schedule_id": sid,
            "request_id": f"{sid}/create",
            "spec": {"intervals": [{"every": 1}]},
            "action": {
                "workflow_type": wf_type,
                "workflow_id": sid,
                "task_queue": SCHEDULE_TASK_QUEUE,
                "input": [{"metadata": {"encoding": "json/plain"}, "data": arg}],
            },
            "policies": {"overlap": policy, "catchup_window": CATCHUP_WINDOW},
        }
        answer = await api.call("POST", "/schedules", body=body)
        v = ScheduleVerdict(name=name, policy=policy, created=answer.acked)
        if not answer.acked:
            v.notes.append(f"create failed: {answer.error}")
        verdicts[name] = v
    return verdicts


async def pause_schedules(api: ApiClient, prefix: str, verdicts: dict[str, ScheduleVerdict]) -> None:
    """Pause every schedule: the end of its window."""
    for name, v in verdicts.items():
        if not v.created:
            continue
        answer = await api.call(
            "POST", f"/schedules/{schedule_id(prefix, name)}/pause", body={"note": "chaos over"}
        )
        v.paused, v.paused_at = answer.acked, time.time()
        if not answer.acked:
            v.notes.append(f"pause failed: {answer.error}")


async def _settled(api: ApiClient, sid: str, deadline: float) -> dict[str, Any] | None:
    """Describe until no run the schedule started is open and nothing is buffered."""
    while True:
        answer = await api.call("GET", f"/schedules/{sid}")
        info = answer.body.get("info", {}) if answer.acked else {}
        if answer.acked and not info.get("running_workflows") and not info.get("buffer_size"):
            return answer.body
        if time.monotonic() >= deadline:
            return answer.body if answer.acked else None
        await asyncio.sleep(0.5)


async def _runs(api: ApiClient, sid: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"query": f"TemporalScheduledById = '{sid}'", "page_size": 1000}
        if token:
            params["next_page_token"] = token
        answer = await api.call("GET", "/workflows", params=params)
        if not answer.acked:
            raise RuntimeError(f"listing the runs of {sid} failed: {answer.error}")
        runs.extend(answer.body.get("executions", []))
        token = answer.body.get("next_page_token")
        if not token:
            return runs


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def check_schedules(
    api: ApiClient, prefix: str, verdicts: dict[str, ScheduleVerdict], *, deadline: float
) -> None:
    for name, v in verdicts.items():
        if not v.created:
            continue
        sid = schedule_id(prefix, name)
        desc = await _settled(api, sid, deadline)
        if desc is None:
            v.notes.append("describe failed")
            continue
        info = desc["info"]
        if info.get("running_workflows"):
            v.notes.append(f"still running at the deadline: {info['running_workflows']}")
        v.actions, v.skipped = info["num_actions"], info["num_actions_skipped_overlap"]
        v.missed = info["num_actions_missed_catchup_window"]
        try:
            runs = await _runs(api, sid)
        except RuntimeError as exc:
            v.notes.append(str(exc))
            continue
        judge(v, sid, runs, created=_at(info["created_at"]))


def judge(v: ScheduleVerdict, sid: str, runs: list[dict[str, Any]], *, created: datetime) -> None:
    v.runs = len(runs)
    per_id = Counter(r["workflow_id"] for r in runs)
    v.duplicated = sum(1 for n in per_id.values() if n > 1)
    v.notes.extend(f"{wid} has {n} runs" for wid, n in per_id.items() if n > 1)
    v.not_completed = sum(1 for r in runs if r["status"] != "Completed")
    v.notes.extend(f"{r['workflow_id']} is {r['status']}" for r in runs if r["status"] != "Completed")
    nominal = {wid: _at(wid.removeprefix(sid + "-")) for wid in per_id}
    if not nominal:
        v.notes.append("no run at all")
        return
    last = max(nominal.values())
    v.tail_seconds = v.paused_at - last.timestamp()
    late = sorted(t for t in nominal.values() if t.timestamp() > v.paused_at)
    v.after_pause = len(late)
    if late:
        v.notes.append(f"taken after the pause: {[t.isoformat() for t in late[:10]]}")
    if v.policy == "allow_all":
        first = created.replace(microsecond=0) + timedelta(seconds=1)
        expected = {first + timedelta(seconds=i) for i in range(int((last - first).total_seconds()) + 1)}
        missing = sorted(expected - set(nominal.values()))
        v.gaps = len(missing)
        if missing:
            v.notes.append(f"seconds without a run: {[m.isoformat() for m in missing[:10]]}")
        return
    ordered = sorted(runs, key=lambda r: (_at(r["start_time"]), r["workflow_id"]))
    for prev, run in itertools.pairwise(ordered):
        closed = prev.get("close_time")
        if closed is None or _at(run["start_time"]) < _at(closed):
            v.overlaps += 1
            v.notes.append(
                f"{run['workflow_id']} started at {run['start_time']}, "
                f"{prev['workflow_id']} closed at {closed}"
            )
        if nominal[run["workflow_id"]] <= nominal[prev["workflow_id"]]:
            v.out_of_order += 1
            v.notes.append(f"{run['workflow_id']} started after {prev['workflow_id']}")
