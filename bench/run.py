"""`make bench`: Tidal end to end on real RabbitMQ + Postgres, next to what the raw servers do and,
with `--peers`, next to Temporal's dev server and DBOS driven by the same workload code.

    uv run python bench/run.py [--quick] [--workloads burst,seq,ten,timers] [--worker process|inline|both]
    uv run --group bench python bench/run.py --peers [temporal,dbos] [--history-processes 2]
    uv run python bench/run.py --visibility [--visibility-rows 100000]   # list/count latency only

See bench/README.md and docs/performance.md for how to read the output. Results go to
bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import systems
from common import run_fast  # also puts the repo root on sys.path
from peers import PEERS, missing_for
from procstat import uptime
from report import report
from suite import WORKLOADS
from workload import say

from tests.support.servers import Servers, start_servers

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
FULL: dict[str, Any] = dict(
    n=1000, m=50, n_ten=200, timers=1000, sleep=2.0, rabbit_n=20000, rr_count=1000, pg_count=20000
)
QUICK: dict[str, Any] = dict(
    n=200, m=10, n_ten=40, timers=200, sleep=1.0, rabbit_n=5000, rr_count=300, pg_count=5000
)


def _on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def _csv(choices: tuple[str, ...]) -> Any:
    def parse(value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)} (got {value!r})")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="one-activity workflows in the burst (default 1000)")
    p.add_argument("--m", type=int, default=None, help="workflows in the one-at-a-time probe (default 50)")
    p.add_argument(
        "--n-ten", type=int, default=None, help="workflows in the ten-activity burst (default 200)"
    )
    p.add_argument(
        "--timers", type=int, default=None, help="sleeping workflows started at once (default 1000)"
    )
    p.add_argument("--sleep", type=float, default=None, help="seconds each of them sleeps (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 200/10/40/200 workflows, 1 s sleeps")
    p.add_argument("--concurrency", type=int, default=100, help="workflows (or start calls) in flight (100)")
    p.add_argument(
        "--workloads", type=_csv(WORKLOADS), default=list(WORKLOADS), help=f"subset of {','.join(WORKLOADS)}"
    )
    p.add_argument(
        "--peers",
        nargs="?",
        const=",".join(PEERS),
        default=None,
        type=_csv(PEERS),
        help="also run the peers (default both: temporal,dbos); needs `uv sync --group bench`",
    )
    p.add_argument(
        "--worker-concurrency", type=int, default=100, help="max concurrent tasks per worker (default 100)"
    )
    p.add_argument("--shards", type=int, default=8, help="TIDAL_SHARD_COUNT for the stack (default 8)")
    p.add_argument("--history-processes", type=int, default=1, help="history processes on the stack (1)")
    p.add_argument(
        "--worker",
        choices=("process", "inline", "both"),
        default=None,
        help="Tidal stack worker in its own process, in the bench process, or both "
        "(default: process with --peers, else both)",
    )
    p.add_argument(
        "--eager-start",
        action="store_true",
        help="every Tidal start asks for eager workflow start (granted with --worker inline and "
        "embedded, where the worker shares the client)",
    )
    p.add_argument("--no-stack", action="store_true", help="skip the full stack")
    p.add_argument("--no-embedded", action="store_true", help="skip the embedded mode")
    p.add_argument("--profile", action="store_true", help="services and the worker under cProfile")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on a workload after this many s")
    p.add_argument("--rabbit-n", type=int, default=None, help="messages in the RabbitMQ round-trip baseline")
    p.add_argument("--rr-count", type=int, default=None, help="request/reply samples (capped at 5 s)")
    p.add_argument("--pg-count", type=int, default=None, help="Postgres commits (capped at 4 s)")
    p.add_argument("--report", metavar="RESULTS_JSON", help="only print the report of a past run's JSON")
    p.add_argument(
        "--visibility", action="store_true", help="only the visibility scenario (bench/visibility.py)"
    )
    p.add_argument("--visibility-rows", type=int, default=100_000, help="closed runs it inserts (100,000)")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:  # an explicit flag wins over --quick
            setattr(args, key, value)
    args.peers = args.peers or []
    if args.worker is None:
        args.worker = "process" if args.peers else "both"
    if args.history_processes < 1:
        p.error("--history-processes must be at least 1")
    for peer in args.peers:
        missing = missing_for(peer)
        if missing:
            p.error(f"--peers {peer}: {', '.join(missing)} not installed; uv sync --group bench")
    return args


def _visibility(rows: int) -> int:
    import visibility

    res = visibility.run(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "visibility.json").write_text(json.dumps(res, indent=2, default=str))
    print(visibility.report(res))
    print(f"results: {RESULTS / 'visibility.json'}")
    return 0 if res["all_filtered_p95_under_target"] else 1


def _phases(args: argparse.Namespace) -> list[str]:
    return [*args.peers, *([] if args.no_stack else ["stack"]), *([] if args.no_embedded else ["embedded"])]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    if args.visibility:
        return _visibility(args.visibility_rows)
    signal.signal(signal.SIGTERM, _on_sigterm)
    run_dir = RESULTS / f"run-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
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
        "systems": {},
    }
    say(f"machine: {os.cpu_count()} cpus; {res['machine']['uptime_before']}")
    servers: Servers | None = None
    cleanup: list[tuple[str, str]] = []
    failed: BaseException | None = None
    ctx = systems.RunContext(args=args, log_dir=log_dir, profile_dir=profile_dir)
    try:
        t0 = time.monotonic()
        say("starting RabbitMQ + Postgres (tests.support.servers)...")
        servers = start_servers()
        ctx.servers = servers
        res["servers"] = {"rabbitmq": servers.rabbitmq.mode, "postgres": servers.postgres.mode}
        say(f"servers up in {time.monotonic() - t0:.1f}s ({res['servers']})")
        ctx.amqp_url, ctx.database_url = servers.amqp_url, servers.database_url
        if servers.rabbitmq.can_manage_vhosts:
            vhost = f"tidal-bench-{uuid.uuid4().hex[:8]}"
            ctx.amqp_url = servers.rabbitmq.add_vhost(vhost)
            cleanup.append(("vhost", vhost))
        for purpose in ("tidal", "dbos"):
            with contextlib.suppress(Exception):
                name = f"{purpose}_bench_{uuid.uuid4().hex[:8]}"
                url = servers.postgres.create_database(name)
                cleanup.append(("db", name))
                if purpose == "tidal":
                    ctx.database_url = url
                else:
                    ctx.dbos_database_url = url
        res["baselines"] = run_fast(systems.run_baselines(ctx.amqp_url, servers.postgres.dsn, args))
        for phase in _phases(args):
            systems.run_phase(phase, ctx, res)
            if ctx.interrupted:
                raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        say("interrupted; cleaning up")
        failed = exc
    except Exception as exc:
        say(f"failed: {type(exc).__name__}: {exc}")
        failed = exc
    finally:
        ctx.close()
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
    res.update(ctx.extra)
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
    system_failures = [n for n, s in res["systems"].items() if "error" in s]
    if failed is not None or system_failures:
        print(f"bench did not finish: {res.get('error') or ', '.join(system_failures)}", file=sys.stderr)
        return 130 if isinstance(failed, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
