"""Issue 10's goal lines, computed from one run's results: each a figure, the reference it is
compared with (a peer measured in the same run, or a fixed target), the ratio and a verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["STACK", "GoalRow", "goal_rows", "history_cpu_split", "one_at_a_time"]

# The stack figures the goals use: the worker in its own process, as Temporal's.
STACK = "tidal-stack/process"
EMBEDDED = "tidal-embedded"


@dataclass(frozen=True, kw_only=True)
class GoalRow:
    goal: str
    figure: str
    reference: str
    ratio: float | None
    target: str
    verdict: str  # PASS, MISS, or n/a (why)


def _get(res: Mapping[str, Any], system: str, *path: str) -> float | None:
    cur: Any = res.get("systems", {}).get(system)
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return float(cur) if isinstance(cur, int | float) else None


def one_at_a_time(res: Mapping[str, Any], system: str) -> tuple[float | None, str]:
    """The p50 the one-at-a-time goals use: `seq-execute` (the SDK's own `execute_workflow`, the
    call a user makes) when it ran, else `seq` (start, then result); and a note saying which,
    with both figures when both ran. A fixed choice, not the better of two noisy figures."""
    seq = _get(res, system, "seq", "start_to_result", "p50_ms")
    execute = _get(res, system, "seq-execute", "call_to_result", "p50_ms")
    if seq is None or execute is None:
        return (seq, "seq") if execute is None else (execute, "seq-execute")
    return execute, f"seq-execute; seq {seq:,.1f} / seq-execute {execute:,.1f} ms"


def _row(
    goal: str,
    figure: float | None,
    reference: float | None,
    *,
    unit: str,
    ref_label: str,
    target: str,
    ok: Callable[[float], bool],
    missing: str = "",
    needs: str,
    which: str = "",
    ref_which: str = "",
) -> GoalRow:
    """``needs``: what run gives the Tidal figure; ``missing``: what run gives the reference;
    ``which`` / ``ref_which``: the workload each was taken from, when there is a choice."""
    fig = "-" if figure is None else f"{figure:,.1f} {unit}" + (f" ({which})" if which else "")
    ref = "-" if reference is None else f"{ref_label} {reference:,.1f} {unit}".strip()
    ref += f" ({ref_which})" if reference is not None and ref_which else ""
    if figure is None or reference is None or reference == 0:
        why = needs if figure is None else missing
        return GoalRow(
            goal=goal, figure=fig, reference=ref, ratio=None, target=target, verdict=f"n/a ({why})"
        )
    ratio = figure / reference
    return GoalRow(
        goal=goal,
        figure=fig,
        reference=ref,
        ratio=ratio,
        target=target,
        verdict="PASS" if ok(ratio) else "MISS",
    )


def history_cpu_split(cpu_seconds: Mapping[str, float]) -> dict[str, float]:
    """Each history process's share of all history CPU (keys `history-1`, `history-2`, ...)."""
    hist = {k: v for k, v in cpu_seconds.items() if k.startswith("history-")}
    total = sum(hist.values())
    return {k: round(v / total, 3) for k, v in sorted(hist.items())} if total > 0 else {}


def goal_rows(
    res: Mapping[str, Any], *, target_wf_per_s: float = 300.0, target_p50_ms: float = 10.0
) -> list[GoalRow]:
    """Every goal line of issue 10, in the issue's order."""
    burst = ("burst", "workflows_per_s")
    ten = ("ten", "workflows_per_s")
    stack_seq, stack_which = one_at_a_time(res, STACK)
    embedded_seq, embedded_which = one_at_a_time(res, EMBEDDED)
    dbos_seq, dbos_which = one_at_a_time(res, "dbos")
    rows = [
        _row(
            "stack burst vs Temporal",
            _get(res, STACK, *burst),
            _get(res, "temporal", *burst),
            unit="wf/s",
            ref_label="Temporal",
            target=">= 4x",
            ok=lambda r: r >= 4.0,
            missing="no Temporal figure: --peers temporal",
            needs="no tidal-stack/process burst",
        ),
        _row(
            "stack burst vs 300 wf/s",
            _get(res, STACK, *burst),
            target_wf_per_s,
            unit="wf/s",
            ref_label="target",
            target=">= 1x",
            ok=lambda r: r >= 1.0,
            needs="no tidal-stack/process burst",
        ),
        _row(
            "stack one at a time p50",
            stack_seq,
            target_p50_ms,
            unit="ms",
            ref_label="target",
            target="<= 1x",
            ok=lambda r: r <= 1.0,
            needs="no tidal-stack/process seq or seq-execute run",
            which=stack_which,
        ),
        _row(
            "stack ten-activity burst vs Temporal",
            _get(res, STACK, *ten),
            _get(res, "temporal", *ten),
            unit="wf/s",
            ref_label="Temporal",
            target=">= 4x",
            ok=lambda r: r >= 4.0,
            missing="no Temporal ten-activity figure: --peers temporal",
            needs="no tidal-stack/process ten run",
        ),
        _row(
            "stack timer p99 lateness",
            _get(res, STACK, "timers", "fired_minus_due", "p99_ms"),
            50.0,
            unit="ms",
            ref_label="target",
            target="<= 1x",
            ok=lambda r: r <= 1.0,
            needs="no tidal-stack/process timers run",
        ),
        _row(
            "embedded burst vs DBOS",
            _get(res, EMBEDDED, *burst),
            _get(res, "dbos", *burst),
            unit="wf/s",
            ref_label="DBOS",
            target=">= 1.5x",
            ok=lambda r: r >= 1.5,
            missing="no DBOS figure: --peers dbos",
            needs="no tidal-embedded burst",
        ),
        _row(
            "embedded one at a time p50 vs DBOS",
            embedded_seq,
            dbos_seq,
            unit="ms",
            ref_label="DBOS",
            target="<= 1x",
            ok=lambda r: r <= 1.0,
            missing="no DBOS figure: --peers dbos",
            needs="no tidal-embedded seq or seq-execute run",
            which=embedded_which,
            ref_which=dbos_which,
        ),
        _row(
            "stack CPU-ms per workflow, all processes",
            _get(res, STACK, "burst", "cpu_ms_per_workflow", "all"),
            10.0,
            unit="ms",
            ref_label="target",
            target="<= 1x",
            ok=lambda r: r <= 1.0,
            needs="no tidal-stack/process burst",
        ),
    ]
    cpu = res.get("systems", {}).get(STACK, {}).get("burst", {}).get("cpu_seconds", {})
    split = history_cpu_split(cpu)
    if len(split) >= 2:
        low, high = min(split.values()), max(split.values())
        rows.append(
            GoalRow(
                goal=f"history CPU split over {len(split)} processes",
                figure=" / ".join(f"{v:.0%}" for v in split.values()),
                reference="even",
                ratio=low / high,
                target="min/max >= 0.8",
                verdict="PASS" if low / high >= 0.8 else "MISS",
            )
        )
    else:
        rows.append(
            GoalRow(
                goal="history CPU split over 2 processes",
                figure="-",
                reference="even",
                ratio=None,
                target="min/max >= 0.8",
                verdict="n/a (needs --history-processes 2)",
            )
        )
    return rows
