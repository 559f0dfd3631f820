"""`make bench`: Tidal end to end on real RabbitMQ + Postgres, next to what the raw servers do.

    uv run python bench/run.py [--quick] [--n 2000] [--m 50] [--worker process|inline|both]
                               [--no-embedded] [--profile]
    uv run python bench/run.py --visibility [--visibility-rows 100000]   # list/count latency only

See bench/README.md for how to read the output. Results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import baselines
import db_probe
import procstat
from common import ROOT, run_fast  # also puts the repo root on sys.path
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from workload import burst, say, sequential, warm_up

from tests.support.servers import Servers, asyncpg_dsn, start_servers
from tests.support.stack import SERVICES, Stack
from tests.support.workflows import GreetingWorkflow, greet

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TARGET_WF_PER_S = 300.0
TARGET_P50_MS = 10.0


# --------------------------------------------------------------------------- plumbing


class BenchStack(Stack):
    """`Stack`, optionally running each service under cProfile (stats written on SIGTERM)."""

    profile_dir: Path | None = None

    def migrate(self) -> None:
        with open(self.log_dir / "migrate.log", "ab") as log:
            subprocess.run(
                [sys.executable, "-m", "tidal_server.cli", "migrate"],
                env=self.env(),
                check=True,
                cwd=ROOT,
                timeout=120,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self, name: str, *, key: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        if self.profile_dir is None:
            return super().start(name, key=key, **extra_env)
        key = key or name
        log = open(self.log_dir / f"tidal-{key}-{os.getpid()}.log", "ab")
        cmd = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(self.profile_dir / f"{key}.pstats"),
            "-m",
            "tidal_server.cli",
            "run",
            name,
        ]
        proc = subprocess.Popen(
            cmd, env=self.env(**extra_env), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.procs[key] = proc
        return proc


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


# --------------------------------------------------------------------------- phases


async def run_baselines(amqp_url: str, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"baseline: RabbitMQ publish(pipelined confirms)+consume round trip, {args.rabbit_n} msgs")
    rt = await baselines.rabbit_round_trip(amqp_url, args.rabbit_n)
    say(
        f"  {rt['round_trip_msgs_per_s']:.0f} msg/s round trip, {rt['published_confirmed_msgs_per_s']:.0f} "
        "msg/s published+confirmed"
    )
    say("baseline: RabbitMQ durable request/reply latency (sequential)")
    rr = await baselines.rabbit_request_reply(amqp_url, count=args.rr_count, max_seconds=5.0)
    say(f"  p50 {rr['p50_ms']:.2f} ms over {rr['count']}")
    say("baseline: Postgres single-row INSERT commits on one asyncpg connection")
    pg = await baselines.postgres_commits(dsn, count=args.pg_count, max_seconds=4.0)
    say(
        f"  {pg['commits_per_s']:.0f} commits/s (fsync={pg['server']['fsync']}, "
        f"synchronous_commit={pg['server']['synchronous_commit']})"
    )
    return {"rabbitmq_round_trip": rt, "rabbitmq_request_reply": rr, "postgres_commits": pg}


async def _start_worker_process(
    stack: Stack, task_queue: str, args: argparse.Namespace, log_dir: Path, profile_dir: Path | None
) -> asyncio.subprocess.Process:
    cmd = [
        sys.executable,
        str(BENCH / "worker_proc.py"),
        stack.address,
        stack.amqp_url,
        task_queue,
        "--concurrency",
        str(args.worker_concurrency),
    ]
    if profile_dir is not None:
        cmd += ["--profile", str(profile_dir / "worker.pstats")]
    log = open(log_dir / "worker.log", "ab")  # noqa: ASYNC230 - once, before the run
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    if line.strip() != b"READY":
        raise RuntimeError(f"worker process did not start (see {log_dir / 'worker.log'}): {line!r}")
    return proc


async def _stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_stack(
    stack: Stack, servers: Servers, args: argparse.Namespace, log_dir: Path, profile_dir: Path | None
) -> dict[str, Any]:
    await stack.wait_ready(timeout=120)
    say(f"stack ready at {stack.address} (shards={stack.shard_count})")
    roots: dict[str, int] = {name: p.pid for name, p in stack.procs.items()}
    roots["bench(client)"] = os.getpid()
    rabbit_pid = procstat.rabbitmq_pid(servers.rabbitmq._pid_file)
    pg_pid = procstat.postgres_pid(servers.postgres._data_dir)
    if rabbit_pid:
        roots["rabbitmq"] = rabbit_pid
    if pg_pid:
        roots["postgres"] = pg_pid
    out: dict[str, Any] = {}
    client = await Client.connect(stack.address, amqp_url=stack.amqp_url)
    try:
        modes = ["process", "inline"] if args.worker == "both" else [args.worker]
        for mode in modes:
            queue = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
            say(f"stack, worker {mode}: warming up")
            proc: asyncio.subprocess.Process | None = None
            worker: Worker | None = None
            try:
                if mode == "process":
                    proc = await _start_worker_process(stack, queue, args, log_dir, profile_dir)
                    roots["worker"] = proc.pid
                else:
                    worker = Worker(
                        client,
                        task_queue=queue,
                        workflows=[GreetingWorkflow],
                        activities=[greet],
                        max_concurrent_workflow_tasks=args.worker_concurrency,
                        max_concurrent_activities=args.worker_concurrency,
                    )
                    await worker.start()
                    roots.pop("worker", None)
                await warm_up(client, queue)
                say(f"stack, worker {mode}: burst of {args.n} workflows, {args.concurrency} in flight")
                dsn = asyncpg_dsn(stack.database_url)
                pg_before = await db_probe.pg_counters(dsn)
                sampler = procstat.CpuSampler(roots)
                sampler.start()
                b = await burst(
                    client,
                    queue,
                    n=args.n,
                    concurrency=args.concurrency,
                    label=f"stack/{mode}",
                    timeout=args.timeout,
                )
                b["cpu_seconds"] = sampler.stop()
                b["cpu_ms_per_workflow"] = {
                    k: round(v * 1000 / max(b["completed"], 1), 1)
                    for k, v in b["cpu_seconds"].items()
                    if not k.startswith("_")
                }
                b["postgres_per_workflow"] = db_probe.per_workflow(
                    pg_before, await db_probe.pg_counters(dsn), b["completed"]
                )
                say(f"  cpu ms per workflow: {b['cpu_ms_per_workflow']}")
                say(f"  postgres per workflow: {b['postgres_per_workflow']}")
                say(
                    f"  {b['workflows_per_s']:.1f} wf/s, p50 {b['start_to_result']['p50_ms']:.1f} ms; "
                    f"cpu s: {b['cpu_seconds']}"
                )
                say(f"stack, worker {mode}: {args.m} workflows one at a time")
                s = await sequential(client, queue, m=args.m, label=mode)
                say(f"  p50 {s['start_to_result']['p50_ms']:.1f} ms")
                s["event_gaps_ms_p50"] = await db_probe.event_gaps(dsn, f"seq-{mode}-%")
                out[mode] = {"burst": b, "sequential": s}
            finally:
                if worker is not None:
                    await worker.shutdown()
                if proc is not None:
                    await _stop_process(proc)
    finally:
        await client.close()
    return out


async def run_embedded(args: argparse.Namespace) -> dict[str, Any]:
    say("embedded (in-memory bus + SQLite, one process): starting")
    env = await WorkflowEnvironment.start_local()
    try:
        queue = "bench-embedded"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[GreetingWorkflow],
            activities=[greet],
            max_concurrent_workflow_tasks=args.worker_concurrency,
            max_concurrent_activities=args.worker_concurrency,
        ):
            await warm_up(env.client, queue)
            say(f"embedded: burst of {args.n} workflows, {args.concurrency} in flight")
            sampler = procstat.CpuSampler({"bench(embedded)": os.getpid()})
            sampler.start()
            b = await burst(
                env.client,
                queue,
                n=args.n,
                concurrency=args.concurrency,
                label="embedded",
                timeout=args.timeout,
            )
            b["cpu_seconds"] = sampler.stop()
            say(f"  {b['workflows_per_s']:.1f} wf/s, p50 {b['start_to_result']['p50_ms']:.1f} ms")
            say(f"embedded: {args.m} workflows one at a time")
            s = await sequential(env.client, queue, m=args.m, label="embedded")
            say(f"  p50 {s['start_to_result']['p50_ms']:.1f} ms")
    finally:
        await env.shutdown()
    return {"burst": b, "sequential": s}


# --------------------------------------------------------------------------- report


def _ratio(value: float, base: float | None) -> str:
    if base is None or not base or math.isnan(value) or math.isnan(base):
        return "-"
    return f"{value / base:.3f}x"


def report(res: dict[str, Any]) -> str:
    base = res.get("baselines", {})
    rt = base.get("rabbitmq_round_trip", {}).get("round_trip_msgs_per_s")
    pub = base.get("rabbitmq_round_trip", {}).get("published_confirmed_msgs_per_s")
    rr = base.get("rabbitmq_request_reply", {}).get("p50_ms")
    pg = base.get("postgres_commits", {}).get("commits_per_s")
    rows: list[tuple[str, str, str]] = [("figure", "value", "ratio to baseline")]
    if rt:
        rows.append(("RabbitMQ publish+consume round trip", f"{rt:,.0f} msg/s", "(baseline R)"))
        rows.append(("RabbitMQ publish, pipelined confirms", f"{pub:,.0f} msg/s", "-"))
    if rr:
        rows.append(("RabbitMQ durable request/reply p50", f"{rr:.2f} ms", "(baseline L)"))
    if pg:
        rows.append(("Postgres 1-row commits, 1 connection", f"{pg:,.0f} /s", "(baseline P)"))
    runs: list[tuple[str, dict[str, Any]]] = [
        (f"stack, worker {k}", v) for k, v in res.get("stack", {}).items()
    ]
    if "embedded" in res:
        runs.append(("embedded", res["embedded"]))
    for name, r in runs:
        b, s = r["burst"], r["sequential"]
        wps = b["workflows_per_s"]
        lat = b["start_to_result"]
        rows.append(
            (
                f"{name}: burst throughput",
                f"{wps:,.1f} wf/s",
                f"{_ratio(wps, rt)} of R, {_ratio(wps, pg)} of P, {_ratio(wps, TARGET_WF_PER_S)} of target",
            )
        )
        rows.append(
            (
                f"{name}: burst p50/p95/p99",
                f"{lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f} ms",
                f"p50 {_ratio(lat['p50_ms'], rr)} of L",
            )
        )
        if b["errors"]:
            rows.append((f"{name}: burst errors", str(b["errors"]), b["first_error"] or ""))
        sl = s["start_to_result"]
        rows.append(
            (
                f"{name}: one-at-a-time p50/p95/p99",
                f"{sl['p50_ms']:.1f}/{sl['p95_ms']:.1f}/{sl['p99_ms']:.1f} ms",
                f"p50 {_ratio(sl['p50_ms'], rr)} of L, {_ratio(sl['p50_ms'], TARGET_P50_MS)} of target",
            )
        )
        rows.append(
            (
                f"{name}: one-at-a-time start call p50",
                f"{s['start_call']['p50_ms']:.1f} ms",
                f"{_ratio(s['start_call']['p50_ms'], rr)} of L",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for mode, r in res.get("stack", {}).items():
        b, s = r["burst"], r["sequential"]
        lines.append("")
        lines.append(f"where the time goes (stack, worker {mode}):")
        lines.append(f"  burst CPU ms per workflow: {b.get('cpu_ms_per_workflow')}")
        lines.append(
            f"  box busy: {b['cpu_seconds'].get('_system_busy')} of "
            f"{b['cpu_seconds'].get('_system_capacity')} CPU-seconds"
        )
        lines.append(f"  burst Postgres per workflow: {b.get('postgres_per_workflow')}")
        lines.append("  one-at-a-time p50 ms between history events:")
        for k, v in (s.get("event_gaps_ms_p50") or {}).items():
            lines.append(f"    {k:<55} {v:>8.2f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="workflows in the burst (default 2000)")
    p.add_argument("--m", type=int, default=50, help="workflows in the one-at-a-time probe (default 50)")
    p.add_argument("--quick", action="store_true", help="smoke run: N=200, M=10, smaller baselines")
    p.add_argument(
        "--concurrency", type=int, default=64, help="workflows in flight in the burst (default 64)"
    )
    p.add_argument(
        "--worker-concurrency",
        type=int,
        default=100,
        help="max concurrent workflow tasks / activities per worker (default 100, the SDK default)",
    )
    p.add_argument("--shards", type=int, default=8, help="TIDAL_SHARD_COUNT for the stack (default 8)")
    p.add_argument(
        "--worker",
        choices=("process", "inline", "both"),
        default="both",
        help="worker in its own process, in the bench process, or both (default both)",
    )
    p.add_argument("--no-stack", action="store_true", help="skip the full stack (baselines + embedded only)")
    p.add_argument("--no-embedded", action="store_true", help="skip the embedded-mode comparison")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run each service and the worker process under cProfile; stats in bench/results/",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="give up on a burst after this many seconds")
    p.add_argument("--rabbit-n", type=int, default=20000, help="messages in the RabbitMQ round-trip baseline")
    p.add_argument("--rr-count", type=int, default=1000, help="request/reply samples (capped at 5 s)")
    p.add_argument("--pg-count", type=int, default=20000, help="Postgres commits (capped at 4 s)")
    p.add_argument(
        "--visibility",
        action="store_true",
        help="run only the visibility scenario (bench/visibility.py): list/count over a large table",
    )
    p.add_argument(
        "--visibility-rows", type=int, default=100_000, help="closed runs it inserts (default 100,000)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.m = 200, 10
        args.rabbit_n, args.rr_count, args.pg_count = 5000, 300, 5000
    return args


def _visibility(rows: int) -> int:
    import visibility

    res = visibility.run(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "visibility.json").write_text(json.dumps(res, indent=2, default=str))
    print(visibility.report(res))
    print(f"results: {RESULTS / 'visibility.json'}")
    return 0 if res["all_filtered_p95_under_target"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.visibility:
        return _visibility(args.visibility_rows)
    signal.signal(signal.SIGTERM, _on_sigterm)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"run-{stamp}"
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    profile_dir = run_dir / "profile" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "uptime_before": uptime(),
        },
        "args": vars(args),
        "run_dir": str(run_dir),
    }
    say(f"machine: {os.cpu_count()} cpus; {res['machine']['uptime_before']}")
    servers: Servers | None = None
    stack: BenchStack | None = None
    cleanup: list[tuple[str, Any]] = []
    failed: BaseException | None = None
    try:
        t0 = time.monotonic()
        say("starting RabbitMQ + Postgres (tests.support.servers)...")
        servers = start_servers()
        res["servers"] = {"rabbitmq": servers.rabbitmq.mode, "postgres": servers.postgres.mode}
        say(
            f"servers up in {time.monotonic() - t0:.1f}s (rabbitmq: {servers.rabbitmq.mode}, "
            f"postgres: {servers.postgres.mode})"
        )
        amqp_url, db_url = servers.amqp_url, servers.database_url
        if servers.rabbitmq.can_manage_vhosts:
            vhost = f"tidal-bench-{uuid.uuid4().hex[:8]}"
            amqp_url = servers.rabbitmq.add_vhost(vhost)
            cleanup.append(("vhost", vhost))
        with contextlib.suppress(Exception):
            dbname = f"tidal_bench_{uuid.uuid4().hex[:8]}"
            db_url = servers.postgres.create_database(dbname)
            cleanup.append(("db", dbname))
        res["baselines"] = run_fast(run_baselines(amqp_url, servers.postgres.dsn, args))
        if not args.no_stack:
            stack = BenchStack(
                amqp_url=amqp_url, database_url=db_url, shard_count=args.shards, log_dir=log_dir
            )
            stack.profile_dir = profile_dir
            say("migrating and starting history, matching, timer, frontend as processes...")
            stack.start_all()
            res["stack"] = run_fast(run_stack(stack, servers, args, log_dir, profile_dir))
            stack.stop_all()
        if not args.no_embedded:
            res["embedded"] = run_fast(run_embedded(args))
    except KeyboardInterrupt as exc:
        say("interrupted; cleaning up")
        failed = exc
    except Exception as exc:
        say(f"failed: {type(exc).__name__}: {exc}")
        failed = exc
    finally:
        if stack is not None:
            stack.stop_all()
            res["service_logs"] = {k: str(log_dir / f"tidal-{k}-{os.getpid()}.log") for k in SERVICES}
        if servers is not None:
            for kind, name in cleanup:
                with contextlib.suppress(Exception):
                    if kind == "vhost":
                        servers.rabbitmq.delete_vhost(name)
                    else:
                        servers.postgres.drop_database(name)
            servers.stop()
            say("servers stopped")
    res["machine"]["uptime_after"] = uptime()
    res["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    if failed is not None:
        res["error"] = f"{type(failed).__name__}: {failed}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    for path in (RESULTS / "latest.json", run_dir / "results.json"):
        path.write_text(json.dumps(res, indent=2, default=str))
    print()
    print(report(res))
    print()
    print(f"uptime before: {res['machine']['uptime_before']}")
    print(f"uptime after:  {res['machine']['uptime_after']}")
    print(f"results: {RESULTS / 'latest.json'} (logs and profiles: {run_dir})")
    if failed is not None:
        print(f"bench did not finish: {res['error']}", file=sys.stderr)
        return 130 if isinstance(failed, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
