"""Each system's phase: bring it up, run the suite, take it down (also on failure or Ctrl-C).

One system failing is recorded under its name and the run goes on to the next; the report
marks the goal lines that needed it as n/a."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import baselines
import procstat
from common import run_fast
from peers.tidal_peer import BenchStack, running_embedded, stack_worker, start_stack, wait_even_split
from suite import Probes, run_suite
from tidal.client import Client
from workload import say

from tests.support.servers import Servers, asyncpg_dsn

__all__ = ["RunContext", "run_baselines", "run_phase"]


@dataclass(kw_only=True)
class RunContext:
    args: argparse.Namespace
    log_dir: Path
    profile_dir: Path | None
    servers: Servers | None = None
    amqp_url: str = ""
    database_url: str = ""
    dbos_database_url: str = ""
    stack: BenchStack | None = None
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def server_roots(self) -> dict[str, int]:
        roots: dict[str, int] = {}
        if self.servers is not None:
            rabbit = procstat.rabbitmq_pid(getattr(self.servers.rabbitmq, "_pid_file", None))
            pg = procstat.postgres_pid(getattr(self.servers.postgres, "_data_dir", None))
            roots.update({"rabbitmq": rabbit} if rabbit else {})
            roots.update({"postgres": pg} if pg else {})
        return roots

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop_all()
            self.stack = None


async def run_baselines(amqp_url: str, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"baseline: RabbitMQ publish(pipelined confirms)+consume round trip, {args.rabbit_n} msgs")
    rt = await baselines.rabbit_round_trip(amqp_url, args.rabbit_n)
    say(f"  {rt['round_trip_msgs_per_s']:.0f} msg/s round trip")
    say("baseline: RabbitMQ durable request/reply latency (sequential)")
    rr = await baselines.rabbit_request_reply(amqp_url, count=args.rr_count, max_seconds=5.0)
    say(f"  p50 {rr['p50_ms']:.2f} ms over {rr['count']}")
    say("baseline: Postgres single-row INSERT commits on one asyncpg connection")
    pg = await baselines.postgres_commits(dsn, count=args.pg_count, max_seconds=4.0)
    say(f"  {pg['commits_per_s']:.0f} commits/s (fsync={pg['server']['fsync']})")
    return {"rabbitmq_round_trip": rt, "rabbitmq_request_reply": rr, "postgres_commits": pg}


async def _temporal(ctx: RunContext) -> dict[str, Any]:
    from peers.temporal import running_temporal

    say("temporal: starting the dev server and a temporalio worker process")
    async with running_temporal(log_dir=ctx.log_dir, worker_concurrency=ctx.args.worker_concurrency) as (
        system,
        roots,
    ):
        probes = Probes(roots={**roots, "bench(client)": os.getpid()})
        return await run_suite(system, label="temporal", args=ctx.args, probes=probes)


async def _dbos(ctx: RunContext) -> dict[str, Any]:
    from peers.dbos_peer import running_dbos

    if not ctx.dbos_database_url:
        raise RuntimeError("no database for DBOS (the server cannot create databases)")
    dsn = asyncpg_dsn(ctx.dbos_database_url)
    say("dbos: launching DBOS in the bench process on its own database")
    async with running_dbos(dsn) as system:
        roots = {"bench(dbos)": os.getpid(), **ctx.server_roots()}
        roots.pop("rabbitmq", None)
        return await run_suite(system, label="dbos", args=ctx.args, probes=Probes(roots=roots, dsn=dsn))


async def _stack(ctx: RunContext, res: dict[str, Any]) -> None:
    assert ctx.stack is not None
    args = ctx.args
    await ctx.stack.wait_ready(timeout=120)
    dsn = asyncpg_dsn(ctx.stack.database_url)
    if args.history_processes > 1:
        owners = await wait_even_split(dsn, processes=args.history_processes, shards=args.shards, timeout=30)
        ctx.extra["history_owners"] = owners
        say(f"shards per history process: {owners}")
    say(f"stack ready at {ctx.stack.address} (shards={args.shards})")
    client = await Client.connect(ctx.stack.address, amqp_url=ctx.stack.amqp_url)
    try:
        for mode in ["process", "inline"] if args.worker == "both" else [args.worker]:
            name = f"tidal-stack/{mode}"
            try:
                async with stack_worker(
                    client,
                    ctx.stack,
                    mode=mode,
                    concurrency=args.worker_concurrency,
                    log_dir=ctx.log_dir,
                    profile_dir=ctx.profile_dir,
                    eager_start=args.eager_start,
                ) as (system, worker_root):
                    roots = {k: p.pid for k, p in ctx.stack.procs.items()}
                    roots.update(worker_root, **ctx.server_roots())
                    roots["bench(client)"] = os.getpid()
                    probes = Probes(roots=roots, dsn=dsn, tidal_history=True)
                    res["systems"][name] = await run_suite(system, label=name, args=args, probes=probes)
            except Exception as exc:
                say(f"{name} failed: {type(exc).__name__}: {exc}")
                res["systems"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        await client.close()


async def _embedded(ctx: RunContext) -> dict[str, Any]:
    say("embedded (in-memory bus + SQLite, one process): starting")
    async with running_embedded(
        concurrency=ctx.args.worker_concurrency, eager_start=ctx.args.eager_start
    ) as system:
        probes = Probes(roots={"bench(embedded)": os.getpid()})
        return await run_suite(system, label="tidal-embedded", args=ctx.args, probes=probes)


def run_phase(phase: str, ctx: RunContext, res: dict[str, Any]) -> None:
    """Runs one system; its figures (or its error) land in ``res["systems"]``."""
    name = {"stack": "tidal-stack", "embedded": "tidal-embedded"}.get(phase, phase)
    try:
        if phase == "stack":
            ctx.stack = BenchStack(
                amqp_url=ctx.amqp_url,
                database_url=ctx.database_url,
                shard_count=ctx.args.shards,
                log_dir=ctx.log_dir,
            )
            ctx.stack.profile_dir = ctx.profile_dir
            say("migrating and starting history, matching, timer, frontend as processes...")
            start_stack(ctx.stack, history_processes=ctx.args.history_processes)
            run_fast(_stack(ctx, res))
            ctx.close()
            return
        runner = {"temporal": _temporal, "dbos": _dbos, "embedded": _embedded}[phase]
        res["systems"][name] = run_fast(runner(ctx))
    except KeyboardInterrupt:
        ctx.interrupted = True
        res["systems"].setdefault(name, {"error": "interrupted"})
    except Exception as exc:
        say(f"{name} failed: {type(exc).__name__}: {exc}")
        res["systems"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        ctx.close()
