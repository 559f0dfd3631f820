"""One chaos run: servers, stack, workload under faults, wait, check, report.

`python -m tests.chaos --help` (what `make chaos` runs) and `tests/chaos/test_chaos.py` (the
bounded CI form) both call `run_chaos`.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.postgres import Postgres, start_private_postgres
from tests.support.rabbitmq import RabbitMQ, start_private_rabbitmq

from .activity_log import Fault
from .checker import Report, check, load_runs, open_count
from .client import ApiClient
from .cluster import Cluster, inject_faults
from .driver import KINDS, Sent, make_plans, run_workload
from .schedules import ScheduleVerdict, check_schedules, create_schedules, pause_schedules

__all__ = ["ChaosResult", "Options", "format_table", "run_chaos"]


@dataclass(frozen=True, kw_only=True)
class Options:
    workflows: int = 1000
    fault_seconds: float = 240.0
    fault_interval: tuple[float, float] = (3.0, 8.0)
    # After the faults stop, everything must have closed within this.
    settle_seconds: float = 180.0
    restart_servers: bool = True
    seed: int = 0
    shard_count: int = 8
    rpc_retry_seconds: float = 300.0
    keep_dir: bool = False
    schedules: bool = True
    min_kills: int = 0


@dataclass
class ChaosResult:
    options: Options
    report: Report
    faults: Counter[str]
    client_retries: Counter[str]
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: Path | None = None
    schedules: dict[str, ScheduleVerdict] = field(default_factory=dict)

    @property
    def totals(self) -> Counter[str]:
        return self.report.totals()


def _start_servers() -> tuple[RabbitMQ, Postgres]:
    # In parallel: the broker dominates start-up.
    box: list[Postgres] = []
    thread = threading.Thread(target=lambda: box.append(start_private_postgres(durable=True)), daemon=True)
    thread.start()
    rabbit = start_private_rabbitmq(timeout=300)  # each rabbitmqctl call is slow on a busy box
    thread.join()
    if not box:
        rabbit.stop()
        raise RuntimeError("Postgres did not start (see the log above)")
    return rabbit, box[0]


def _say(message: str) -> None:
    print(message, flush=True)


async def run_chaos(options: Options, *, log: Any = _say) -> ChaosResult:
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="tidal-chaos-"))
    rng = random.Random(options.seed)
    prefix = f"chaos{uuid.uuid4().hex[:6]}"
    # Not under `prefix`: the workflow checker must not judge the schedules' runs.
    sched_prefix = f"sched{uuid.uuid4().hex[:6]}"
    verdicts: dict[str, ScheduleVerdict] = {}
    rabbit, pg = await asyncio.to_thread(_start_servers)
    cluster = Cluster(rabbitmq=rabbit, postgres=pg, run_dir=run_dir, shard_count=options.shard_count)
    seconds: dict[str, float] = {}
    # An interrupted run (Ctrl-C, a pytest timeout) must not leave the services running.
    atexit.register(cluster.stop)
    try:
        await asyncio.to_thread(cluster.start_all)
        await cluster.stack.wait_ready(timeout=300)
        seconds["start-up"] = time.monotonic() - started
        log(f"chaos: stack ready in {seconds['start-up']:.1f}s; logs in {run_dir}")
        plans = make_plans(
            options.workflows, window=options.fault_seconds * 0.8, seed=options.seed, prefix=prefix
        )
        async with ApiClient(
            cluster.stack.address,
            retry_seconds=options.rpc_retry_seconds,
            max_connections=options.workflows + 50,
        ) as api:
            if options.schedules:
                verdicts = await create_schedules(api, sched_prefix)
            t_faults = time.monotonic()
            sent = [Sent(plan=p) for p in plans]
            workload = asyncio.create_task(run_workload(api, sent))
            progress = asyncio.create_task(_progress(pg.dsn, prefix, cluster, sent, log))
            try:
                await inject_faults(
                    cluster,
                    seconds=options.fault_seconds,
                    interval=options.fault_interval,
                    rng=rng,
                    restart_servers=options.restart_servers,
                    min_kills=options.min_kills,
                )
            except BaseException:
                workload.cancel()
                progress.cancel()
                raise
            seconds["faults"] = time.monotonic() - t_faults
            log(f"chaos: faults over after {seconds['faults']:.0f}s ({len(cluster.faults)} injected)")
            deadline = time.monotonic() + options.settle_seconds
            # The schedules' window is the fault window: pausing ends it.
            await pause_schedules(api, sched_prefix, verdicts)
            await _finish_workload(workload, deadline, cluster, log)
            await _wait_closed(pg.dsn, prefix, deadline, cluster, sent)
            progress.cancel()
            # The schedules' last runs get at least a minute, even when the workflows used it all.
            await check_schedules(
                api,
                sched_prefix,
                verdicts,
                deadline=max(deadline, time.monotonic() + 60),
            )
            seconds["settle"] = time.monotonic() - t_faults - seconds["faults"]
            retries = Counter(api.retries)
        chains = await load_runs(pg.dsn, prefix)
        if options.keep_dir:
            _dump(run_dir, chains, sent, cluster)
        excuses = [*cluster.faults, *_handovers(run_dir)]
        report = check(sent, chains, _read_log(cluster.activity_log), excuses)
    finally:
        atexit.unregister(cluster.stop)
        await asyncio.to_thread(cluster.stop)
        await asyncio.to_thread(rabbit.stop)
        await asyncio.to_thread(pg.stop)
    seconds["total"] = time.monotonic() - started
    # A process that exited on its own is named with its exit code (e.g. a worker restarted while
    # the broker was down exits 1 by design and is restarted, as an orchestrator would).
    faults = Counter(
        f"{f.kind} {f.target}" if f.kind in ("kill", "exited") else f.kind for f in cluster.faults
    )
    if not options.keep_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return ChaosResult(
        options=options,
        report=report,
        faults=faults,
        client_retries=retries,
        seconds=seconds,
        run_dir=run_dir if options.keep_dir else None,
        schedules=verdicts,
    )


async def _finish_workload(workload: asyncio.Task[None], deadline: float, cluster: Cluster, log: Any) -> None:
    while not workload.done() and time.monotonic() < deadline:
        cluster.supervise()
        await asyncio.wait({workload}, timeout=0.5)
    if not workload.done():
        # Requests still retrying at the deadline are judged as failed (not acknowledged).
        log("chaos: the driver was still sending at the deadline; cancelling it")
        workload.cancel()
    else:
        workload.result()  # a harness bug must be loud


async def _progress(dsn: str, prefix: str, cluster: Cluster, sent: list[Sent], log: Any) -> None:
    t0, reported = time.monotonic(), 0
    while True:
        await asyncio.sleep(10)
        for f in cluster.faults[reported:]:
            log(
                f"chaos: +{f.t - cluster.t0:.0f}s {f.kind} {f.target}"
                + (f" ({f.end - f.t:.1f}s)" if f.end else "")
            )
        reported = len(cluster.faults)
        try:
            running = await open_count(dsn, prefix)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            running = -1
        started = sum(1 for s in sent if s.start is not None and s.start.acked)
        log(f"chaos: +{time.monotonic() - t0:.0f}s {started} started, {running} runs open")


async def _wait_closed(dsn: str, prefix: str, deadline: float, cluster: Cluster, sent: list[Sent]) -> None:
    # A start that finally failed may still have happened (a 503 says so) while the driver sent
    # it nothing more: such a workflow waiting for its signals or updates is not stuck.
    ignore = frozenset(
        s.plan.workflow_id
        for s in sent
        if s.plan.kind in ("signal", "update", "entity") and not (s.start is not None and s.start.acked)
    )
    while time.monotonic() < deadline:
        cluster.supervise()
        try:
            if await open_count(dsn, prefix, ignore=ignore) == 0:
                return
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pass
        await asyncio.sleep(0.5)


def _dump(run_dir: Path, chains: dict[str, list[Any]], sent: list[Sent], cluster: Cluster) -> None:
    """Everything the checker judged, for reading a failure after the servers are gone."""
    (run_dir / "histories.json").write_text(
        json.dumps({wid: [dataclasses.asdict(r) for r in runs] for wid, runs in chains.items()}, default=str)
    )
    (run_dir / "sent.json").write_text(json.dumps([dataclasses.asdict(s) for s in sent], default=str))
    (run_dir / "faults.json").write_text(json.dumps([dataclasses.asdict(f) for f in cluster.faults]))


def _handovers(run_dir: Path) -> list[Fault]:
    """Shard takeovers from the history logs: a new owner relays the shard's outbox, so a task
    published just before can be published again (at least once) some time after the kill that
    caused the move (restart, member TTL, rebalance)."""
    found = []
    for path in run_dir.glob("tidal-history-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"acquired shard' not in line:
                continue
            try:
                t = datetime.fromisoformat(json.loads(line)["time"]).timestamp()
            except (ValueError, KeyError):
                continue
            found.append(Fault(t=t, kind="handover", target=path.stem))
    return found


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # a line cut by SIGKILL (single writes make this unlikely)
    return lines


_COLUMNS = ("workflows", "completed", "wrong", "lost signals", "duplicated", "stuck", "gave_up")


def format_table(result: ChaosResult, *, anomalies: int = 25) -> str:
    by_kind = result.report.by_kind()
    out = []
    head = f"{'kind':<10}" + "".join(f"{c:>14}" for c in _COLUMNS)
    out.append(head)
    out.append("-" * len(head))
    for kind in [*KINDS, "total"]:
        row = result.totals if kind == "total" else by_kind.get(kind, Counter())
        out.append(f"{kind:<10}" + "".join(f"{row[c]:>14}" for c in _COLUMNS))
    out.append("")
    out.append("faults injected: " + ", ".join(f"{k}: {n}" for k, n in sorted(result.faults.items())))
    out.append("requests: " + ", ".join(f"{k}: {n}" for k, n in sorted(result.report.requests.items())))
    out.append(
        "client retries: "
        + (", ".join(f"{k}: {n}" for k, n in sorted(result.client_retries.items())) or "none")
    )
    out.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()))
    o = result.options
    out.append(
        f"options: {o.workflows} workflows, {o.fault_seconds:.0f}s of faults every "
        f"{o.fault_interval[0]:g}-{o.fault_interval[1]:g}s, seed {o.seed}, {o.shard_count} shards"
    )
    out.extend(_schedule_table(result.schedules))
    if result.report.anomalies:
        out.append("")
        out.append(f"anomalies ({len(result.report.anomalies)}):")
        out.extend(f"  {a}" for a in result.report.anomalies[:anomalies])
    return "\n".join(out)


_SCHEDULE_COLUMNS = ("actions", "runs", "duplicated", "gaps", "overlaps", "skipped", "missed", "after pause")


def _schedule_table(verdicts: dict[str, ScheduleVerdict]) -> list[str]:
    if not verdicts:
        return []
    head = (
        f"{'schedule':<12}{'policy':>12}" + "".join(f"{c:>12}" for c in _SCHEDULE_COLUMNS) + f"{'tail s':>9}"
    )
    out = ["", head, "-" * len(head)]
    for v in verdicts.values():
        cells = [
            *(v.actions, v.runs, v.duplicated, v.gaps, v.overlaps + v.out_of_order),
            *(v.skipped, v.missed, v.after_pause),
        ]
        out.append(
            f"{v.name:<12}{v.policy:>12}" + "".join(f"{c:>12}" for c in cells) + f"{v.tail_seconds:>9.1f}"
        )
    out.extend(f"  {v.name}: {note}" for v in verdicts.values() for note in v.notes[:10])
    return out
