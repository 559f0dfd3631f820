"""`python -m tests.chaos [options]` (what `make chaos` runs): the full chaos run, its table,
exit status 1 when anything was lost, duplicated, wrong or stuck."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .harness import Options, format_table, run_chaos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--workflows", type=int, default=1000, help="workflows to run (default 1000)")
    p.add_argument("--fault-seconds", type=float, default=240.0, help="how long faults go on (default 240)")
    p.add_argument(
        "--fault-interval",
        type=float,
        nargs=2,
        default=(3.0, 8.0),
        metavar=("MIN", "MAX"),
        help="seconds between kills, drawn uniformly (default 3 8)",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=180.0,
        help="after the faults, every workflow must have closed within this (default 180)",
    )
    p.add_argument("--no-server-restarts", action="store_true", help="do not restart RabbitMQ and Postgres")
    p.add_argument("--seed", type=int, default=0, help="random seed for the plans and the faults")
    p.add_argument("--shards", type=int, default=8, help="history shard count (default 8)")
    p.add_argument(
        "--rpc-retry-seconds", type=float, default=300.0, help="client retry budget per request (default 300)"
    )
    p.add_argument("--no-schedules", action="store_true", help="run no schedules alongside the workload")
    p.add_argument("--keep", action="store_true", help="keep the run directory (service logs, activity log)")
    a = p.parse_args(argv)
    options = Options(
        workflows=a.workflows,
        fault_seconds=a.fault_seconds,
        fault_interval=(a.fault_interval[0], a.fault_interval[1]),
        settle_seconds=a.settle_seconds,
        restart_servers=not a.no_server_restarts,
        seed=a.seed,
        shard_count=a.shards,
        rpc_retry_seconds=a.rpc_retry_seconds,
        keep_dir=a.keep,
        schedules=not a.no_schedules,
    )
    result = asyncio.run(run_chaos(options))
    print(format_table(result, anomalies=60))
    t = result.totals
    bad = t["wrong"] + t["lost signals"] + t["duplicated"] + t["stuck"]
    bad += sum(0 if v.ok else 1 for v in result.schedules.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
