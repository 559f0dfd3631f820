"""Activity attempts executed twice: read from the worker's execution log (`workload.py`) and
judged against the faults injected (`cluster.py`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "activity_duplicates"]


@dataclass(frozen=True, kw_only=True)
class Fault:
    t: float  # wall-clock time (time.time(), comparable with the worker's activity log)
    kind: str  # "kill" | "restart-rabbitmq" | "restart-postgres" | "exited"
    target: str
    end: float = 0.0  # for broker/database restarts: when it was back


def activity_duplicates(activity_log: list[dict[str, Any]], faults: list[Fault]) -> dict[str, list[str]]:
    """Attempts executed more than once that no fault explains.

    Activities are at least once: a worker killed after running an attempt but before its
    completion was published, a matching or history process killed between publishing a task and
    recording that (the outbox is published again by the next owner), or a broker restart, may
    each run an attempt again. Such a re-run has a fault between (or just before) the two
    executions. Two executions with no fault in that window were dispatched twice by a live
    system: an input applied twice (defect 6, a duplicated retry fire, looks like this: both runs
    some seconds after a history kill, milliseconds apart)."""
    runs: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in activity_log:
        runs[(line["workflow_id"], line["run_id"], line["activity_id"], line["attempt"])].append(line)
    windows = [(f.t, f.end or f.t) for f in faults if _may_rerun(f)]
    found: dict[str, list[str]] = defaultdict(list)
    for (wid, run_id, act, attempt), lines in runs.items():
        if len(lines) < 2:
            continue
        lines.sort(key=lambda x: x["t"])
        first, last = lines[0]["t"], lines[-1]["t"]
        if any(start <= last and end >= first - _FAULT_SLACK for start, end in windows):
            continue
        gap = (last - first) * 1000
        pids = sorted({x["pid"] for x in lines})
        found[wid].append(
            f"activity {act} attempt {attempt} of run {run_id} ran {len(lines)}x with no fault between "
            f"({gap:.0f} ms apart, worker pids {pids})"
        )
    return found


def _may_rerun(fault: Fault) -> bool:
    """Faults after which running an attempt again is allowed. Not a timer or frontend kill:
    a timer fire delivered twice must be absorbed by history (fires are attempt-scoped), and the
    frontend never touches activity tasks."""
    return not (fault.kind == "kill" and fault.target in ("timer", "frontend"))


# An attempt's line is written when it ends; a task in flight when a process died may run a
# moment after the kill.
_FAULT_SLACK = 1.0
