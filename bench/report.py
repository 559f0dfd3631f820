"""The printed report: the baselines, every system side by side, issue 10's goal lines, and where
the time goes on the stack."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from goals import goal_rows

__all__ = ["SYSTEM_ORDER", "report", "table"]

SYSTEM_ORDER = ("temporal", "dbos", "tidal-stack/process", "tidal-stack/inline", "tidal-embedded")


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def _at(d: Mapping[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)  # type: ignore[assignment]
    return d


def _num(v: Any, fmt: str) -> str:
    return "-" if not isinstance(v, int | float) or math.isnan(v) else format(v, fmt)


def _others_cores(s: Mapping[str, Any], workload: str) -> float | None:
    """CPU the rest of the box (other users) burned during a workload, in cores: a noisy run
    shows here before it shows in the ratios. Box busy time minus the bench's own process
    groups (processes that came and went meanwhile are in the box's time, not in `other`)."""
    cpu, seconds = _at(s, workload, "cpu_seconds"), _at(s, workload, "seconds")
    if not isinstance(cpu, Mapping) or not seconds or "_system_busy" not in cpu:
        return None
    ours = sum(float(v) for k, v in cpu.items() if not k.startswith("_") and k != "other")
    return max(0.0, float(cpu["_system_busy"]) - ours) / float(seconds)


def _per_core(s: Mapping[str, Any], workload: str) -> float | None:
    """Workflows per second per core the system's processes burned: what it would do with a
    core to itself, so less moved by other load than its wall-clock rate."""
    ms = _at(s, workload, "cpu_ms_per_workflow", "all")
    return 1000.0 / ms if isinstance(ms, int | float) and ms > 0 else None


def _load_before(s: Mapping[str, Any]) -> str:
    """The 1-minute load average when the system's runs began (from `uptime`)."""
    line = s.get("uptime_before") or ""
    return line.split("load average:")[-1].split(",")[0].strip() if "load average:" in line else "-"


def _pair(d: Mapping[str, Any] | None, fmt: str = ".0f") -> str:
    if not d:
        return "-"
    return f"{_num(d.get('p50_ms'), fmt)} / {_num(d.get('p99_ms'), fmt)}"


def _via_execute(s: Mapping[str, Any]) -> str:
    """`seq-execute`, marked where the system has no single call (its start then its result)."""
    pair = _pair(_at(s, "seq-execute", "call_to_result"), ".1f")
    via = _at(s, "seq-execute", "via")
    return f"{pair} ({via})" if pair != "-" and via and via != "execute" else pair


def _baselines(res: Mapping[str, Any]) -> list[str]:
    base = res.get("baselines", {})
    rt = base.get("rabbitmq_round_trip", {})
    rows = [["baseline (same run, same servers)", "value"]]
    if rt:
        rows.append(["R: RabbitMQ publish+consume round trip", f"{rt['round_trip_msgs_per_s']:,.0f} msg/s"])
        rows.append(
            ["RabbitMQ publish, pipelined confirms", f"{rt['published_confirmed_msgs_per_s']:,.0f} msg/s"]
        )
    if "rabbitmq_request_reply" in base:
        rows.append(
            ["L: RabbitMQ durable request/reply p50", f"{base['rabbitmq_request_reply']['p50_ms']:.2f} ms"]
        )
    if "postgres_commits" in base:
        rows.append(
            [
                "P: Postgres 1-row commits, 1 connection",
                f"{base['postgres_commits']['commits_per_s']:,.0f} /s",
            ]
        )
    return table(rows) if len(rows) > 1 else []


def _systems(res: Mapping[str, Any]) -> list[str]:
    systems = res.get("systems", {})
    names = [n for n in SYSTEM_ORDER if n in systems] + [n for n in systems if n not in SYSTEM_ORDER]
    if not names:
        return []
    figures: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("burst wf/s", lambda s: _num(_at(s, "burst", "workflows_per_s"), ",.1f")),
        ("burst p50 / p99 ms", lambda s: _pair(_at(s, "burst", "start_to_result"))),
        ("burst CPU-ms per wf, all", lambda s: _num(_at(s, "burst", "cpu_ms_per_workflow", "all"), ".1f")),
        ("burst wf/s per core used (1000 / CPU-ms)", lambda s: _num(_per_core(s, "burst"), ",.1f")),
        ("load average (1 min) before", _load_before),
        ("burst: others' load on the box, cores", lambda s: _num(_others_cores(s, "burst"), ".2f")),
        ("one at a time p50 / p99 ms", lambda s: _pair(_at(s, "seq", "start_to_result"), ".1f")),
        ("one at a time via execute_workflow p50 / p99 ms", _via_execute),
        (
            "one at a time, co-located worker p50 / p99 ms",
            lambda s: _pair(_at(s, "seq-colocated", "start_to_result"), ".1f"),
        ),
        (
            "  the same with eager start p50 / p99 ms",
            lambda s: _pair(_at(s, "seq-eager", "start_to_result"), ".1f"),
        ),
        ("ten-activity burst wf/s", lambda s: _num(_at(s, "ten", "workflows_per_s"), ",.1f")),
        (
            "ten-activity CPU-ms per wf, all",
            lambda s: _num(_at(s, "ten", "cpu_ms_per_workflow", "all"), ".1f"),
        ),
        ("timer fired - due p50 / p99 ms", lambda s: _pair(_at(s, "timers", "fired_minus_due"), ".1f")),
        (
            "timer workflow clock - sleep p50 / p99",
            lambda s: _pair(_at(s, "timers", "workflow_clock_lateness")),
        ),
        (
            "timer end to end - sleep p50 / p99 ms",
            lambda s: _pair(_at(s, "timers", "end_to_end_minus_sleep")),
        ),
        (
            "errors (burst, ten, timers)",
            lambda s: ", ".join(_num(_at(s, w, "errors"), "d") for w in ("burst", "ten", "timers")),
        ),
    ]
    rows = [["figure", *names]]
    for label, fn in figures:
        rows.append([label, *(fn(systems[n]) if "error" not in systems[n] else "failed" for n in names)])
    lines = table(rows)
    for n in names:
        if "error" in systems[n]:
            lines.append(f"{n} failed: {systems[n]['error']}")
    return lines


def _goals(res: Mapping[str, Any]) -> list[str]:
    rows = [["issue 10 goal", "figure", "reference (same run)", "ratio", "target", "verdict"]]
    for g in goal_rows(res):
        rows.append(
            [
                g.goal,
                g.figure,
                g.reference,
                "-" if g.ratio is None else f"{g.ratio:.2f}x",
                g.target,
                g.verdict,
            ]
        )
    return table(rows)


_GAP_WORKLOADS = {
    "seq": "one at a time",
    "seq-execute": "one at a time via execute_workflow",
    "seq-colocated": "one at a time, co-located worker",
    "seq-eager": "one at a time, co-located worker, eager start",
}


def _where(res: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, s in res.get("systems", {}).items():
        b = s.get("burst")
        if not b and not any(s.get(w, {}).get("event_gaps_ms_p50") for w in _GAP_WORKLOADS):
            continue
        lines += ["", f"where the time goes ({name}{', burst' if b else ''}):"]
        if b:
            lines.append(f"  CPU ms per workflow: {b.get('cpu_ms_per_workflow')}")
            cpu = b.get("cpu_seconds", {})
            busy, capacity = cpu.get("_system_busy"), cpu.get("_system_capacity")
            lines.append(f"  box busy: {busy} of {capacity} CPU-seconds")
            if "postgres_per_workflow" in b:
                lines.append(f"  Postgres per workflow: {b['postgres_per_workflow']}")
        for workload, title in _GAP_WORKLOADS.items():
            gaps = s.get(workload, {}).get("event_gaps_ms_p50")
            if gaps:
                lines.append(f"  {title}, p50 ms between history events:")
                lines += [f"    {k:<55} {v:>8.2f}" for k, v in gaps.items()]
    if res.get("history_owners"):
        lines.append(f"\nshards per history process: {res['history_owners']}")
    return lines


def report(res: Mapping[str, Any]) -> str:
    parts = [_baselines(res), _systems(res), _goals(res), _where(res)]
    return "\n".join(line for part in parts if part for line in [*part, ""]).rstrip()
