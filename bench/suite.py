"""One system, every selected workload: warm-up, then the timed runs with per-process CPU and,
where the system keeps its state in our Postgres, the database's counters per workflow."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import db_probe
import procstat
from workload import Shape, System, burst, execute_via, say, sequential, sequential_ab, timers, warm_up

__all__ = ["WORKLOADS", "Probes", "cpu_ms_per_workflow", "run_suite"]

WORKLOADS = ("burst", "seq", "seq-execute", "seq-eager", "ten", "timers")
_SHAPE_OF: tuple[tuple[str, Shape], ...] = (
    ("burst", "one"),
    ("seq", "one"),
    ("seq-execute", "one"),
    ("seq-eager", "one"),
    ("ten", "ten"),
    ("timers", "sleep"),
)


class Probes:
    """What the bench can look at besides the client's clock: process trees for CPU, a Postgres
    database for counters, and Tidal's history table for the gaps between events."""

    def __init__(
        self, *, roots: Mapping[str, int], dsn: str | None = None, tidal_history: bool = False
    ) -> None:
        self.roots = dict(roots)
        self.dsn = dsn
        self.tidal_history = tidal_history and dsn is not None


def cpu_ms_per_workflow(cpu_seconds: Mapping[str, float], workflows: int) -> dict[str, float]:
    """CPU-ms per workflow for each process group, plus `all`: every group the bench started or
    drives (services, workers, client, broker, database); `other` (the rest of the box) is not
    in `all`."""
    per = {k: round(v * 1000 / max(workflows, 1), 2) for k, v in cpu_seconds.items() if not k.startswith("_")}
    per["all"] = round(sum(v for k, v in per.items() if k != "other"), 2)
    return per


async def _timed_burst(system: System, probes: Probes, **kw: Any) -> dict[str, Any]:
    pg_before = await db_probe.pg_counters(probes.dsn) if probes.dsn else None
    sampler = procstat.CpuSampler(probes.roots)
    sampler.start()
    b = await burst(system, **kw)
    b["cpu_seconds"] = sampler.stop()
    b["cpu_ms_per_workflow"] = cpu_ms_per_workflow(b["cpu_seconds"], b["completed"])
    say(f"  cpu ms per workflow: {b['cpu_ms_per_workflow']}")
    if probes.dsn and pg_before is not None:
        after = await db_probe.pg_counters(probes.dsn)
        b["postgres_per_workflow"] = db_probe.per_workflow(pg_before, after, b["completed"])
        say(f"  postgres per workflow: {b['postgres_per_workflow']}")
    lat = b["start_to_result"]
    say(f"  {b['workflows_per_s']:.1f} wf/s, p50 {lat['p50_ms']:.1f} ms, {b['errors']} errors")
    return b


async def _seq_eager(
    system: System, *, label: str, args: argparse.Namespace, probes: Probes
) -> dict[str, Any]:
    """`seq-colocated` and `seq-eager`: one at a time with a worker in the bench's process,
    without and with eager workflow start, interleaved. Only systems that can co-locate a
    worker with their client (Tidal's) have it."""
    colocated = getattr(system, "colocated", None)
    if colocated is None:
        say(f"{label}: no seq-eager (the system has no co-located worker)")
        return {}
    say(f"{label}: {args.m} + {args.m} one at a time with a co-located worker, without / with eager start")
    async with colocated(concurrency=args.worker_concurrency) as (plain, eager):
        ab = await sequential_ab(plain, eager, m=args.m, label=label)
    out: dict[str, Any] = {"seq-colocated": ab["a"], "seq-eager": ab["b"]}
    for key, s in out.items():
        if probes.tidal_history and probes.dsn:
            s["event_gaps_ms_p50"] = await db_probe.event_gaps(probes.dsn, f"{s['workflow_id_prefix']}-%")
        say(f"  {key}: p50 {s['start_to_result']['p50_ms']:.1f} ms")
    return out


async def run_suite(
    system: System, *, label: str, args: argparse.Namespace, probes: Probes
) -> dict[str, Any]:
    """Run ``args.workloads`` against one system; the result's keys are the workload names."""
    out: dict[str, Any] = {"uptime_before": procstat.uptime()}
    wanted = args.workloads
    shapes: tuple[Shape, ...] = tuple(s for w, s in _SHAPE_OF if w in wanted)
    shapes = tuple(dict.fromkeys(shapes))  # each once, in order
    say(f"{label}: warming up ({', '.join(shapes)})")
    await warm_up(system, shapes, execute="seq-execute" in wanted)
    if "burst" in wanted:
        say(f"{label}: burst of {args.n} one-activity workflows, {args.concurrency} in flight")
        out["burst"] = await _timed_burst(
            system, probes, n=args.n, concurrency=args.concurrency, label=label, timeout=args.timeout
        )
    if "seq" in wanted:
        say(f"{label}: {args.m} one-activity workflows one at a time")
        s = await sequential(system, m=args.m, label=label)
        if probes.tidal_history and probes.dsn:
            s["event_gaps_ms_p50"] = await db_probe.event_gaps(probes.dsn, f"{s['workflow_id_prefix']}-%")
        say(f"  p50 {s['start_to_result']['p50_ms']:.1f} ms")
        out["seq"] = s
    if "seq-execute" in wanted:
        say(f"{label}: {args.m} one-activity workflows one at a time via {execute_via(system)}")
        s = await sequential(system, m=args.m, label=label, execute=True)
        if probes.tidal_history and probes.dsn:
            s["event_gaps_ms_p50"] = await db_probe.event_gaps(probes.dsn, f"{s['workflow_id_prefix']}-%")
        say(f"  p50 {s['call_to_result']['p50_ms']:.1f} ms")
        out["seq-execute"] = s
    if "seq-eager" in wanted:
        out.update(await _seq_eager(system, label=label, args=args, probes=probes))
    if "ten" in wanted:
        say(f"{label}: burst of {args.n_ten} ten-activity workflows, {args.concurrency} in flight")
        out["ten"] = await _timed_burst(
            system,
            probes,
            shape="ten",
            n=args.n_ten,
            concurrency=args.concurrency,
            label=label,
            timeout=args.timeout,
        )
    if "timers" in wanted:
        say(f"{label}: {args.timers} workflows sleeping {args.sleep:g} s, started at once")
        t = await timers(
            system,
            n=args.timers,
            seconds=args.sleep,
            concurrency=args.concurrency,
            label=label,
            timeout=args.timeout,
        )
        la, e2e = t["fired_minus_due"], t["end_to_end_minus_sleep"]
        say(
            f"  fired - due p50/p99 {la['p50_ms']:.1f}/{la['p99_ms']:.1f} ms; end to end minus sleep "
            f"p50/p99 {e2e['p50_ms']:.0f}/{e2e['p99_ms']:.0f} ms; {t['errors']} errors"
        )
        out["timers"] = t
    out["uptime_after"] = procstat.uptime()
    return out
