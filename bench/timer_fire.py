"""The timer service alone: from a timer's due time to its fire's delivery at history's queue.

    uv run python bench/timer_fire.py [--n 1000] [--rate 75] [--lead 2] [--stale 1] [--runs 1]

Private RabbitMQ + Postgres, the timer service as its own process (`tidal-server run timer`, the
code of the checkout it runs from), and this process standing in for history: it writes each
timer's row and publishes its ScheduleTimer `--lead` seconds before the due time (as history
does when a workflow starts a timer), at `--rate` timers per second (the stack's burst rate),
and consumes the history queues, stamping each fire on arrival. With `--stale K`, every timer
comes with K timeouts due 10 s later whose rows are deleted 20 ms after they were written (a
workflow task that completed), which the timer service looks up and drops.

Prints delivered - due p50 / p90 / p99 / max for the user timers, what was fired and dropped
stale (from the service's /metrics-free log counters: counted here as what arrived), and the
timer process's CPU-ms per timer. The rest of the stack is not running, so the figure is the
timer service's own part of a timer's lateness, plus the broker's hop.

    uv run python bench/timer_fire.py --idle 30

The idle cost instead: the service owning its shards with no timer to fire, for that many
seconds: its CPU-ms per second, and the statements per second it sends Postgres, by table (read
from pg_stat_user_tables, so the figures are Postgres's own count: the `timers` reads, the
`members` heartbeats).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from common import latency_summary_ms, run_fast  # also puts the repo root on sys.path
from procstat import uptime
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_schema import names
from tidal_schema.messages import FireTimer, ScheduleTimer, ScheduleTimers, TimerKind
from tidal_server.bus import AmqpBus, Delivery, OutMessage, QueueSpec
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine

from tests.support.servers import start_servers
from tests.support.stack import Stack

SHARDS = 8


def _cpu_seconds(pid: int) -> float:
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


async def _one_run(stack: Stack, args: argparse.Namespace) -> None:
    bus = AmqpBus(stack.amqp_url, connection_name="bench-timer-fire")
    await bus.connect()
    engine = create_engine(stack.database_url, pool_size=4)
    arrived: dict[str, float] = {}
    done = asyncio.Event()
    run = uuid.uuid4().hex[:6]
    user_keys: set[str] = set()

    async def on_fire(d: Delivery) -> None:
        fire = FireTimer.model_validate_json(d.body)
        arrived.setdefault(fire.key, time.time())
        await d.ack()
        if user_keys and user_keys <= arrived.keys():
            done.set()

    await bus.declare_exchange(names.HISTORY_EXCHANGE, "direct")
    await bus.declare_exchange(names.TIMER_EXCHANGE, "direct")
    for shard in range(SHARDS):
        spec = QueueSpec(
            name=names.history_queue(shard),
            bindings=[(names.HISTORY_EXCHANGE, names.shard_routing_key(shard))],
        )
        await bus.declare_queue(spec)
        await bus.consume(spec.name, on_fire, prefetch=512)
    await _timer_queues_consumed(bus)

    def sched(i: int, kind: TimerKind, due: datetime) -> ScheduleTimer:
        key = f"{run}-{i}-{kind.value}"
        fire = FireTimer(
            workflow_id=f"wf-{run}-{i}", run_id=f"run-{run}-{i}", kind=kind, key=key, timer_id="1"
        )
        return ScheduleTimer(shard_id=i % SHARDS, key=key, fire_at=due, fire=fire)

    async def arm(timers: list[ScheduleTimer]) -> None:
        """As history commits: the rows, then one ScheduleTimers per timer shard."""
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(t.timers),
                [
                    {
                        "shard_id": s.shard_id,
                        "key": s.key,
                        "fire_at": s.fire_at,
                        "body": s.model_dump(mode="json"),
                    }
                    for s in timers
                ],
            )
        by_shard: dict[int, list[ScheduleTimer]] = {}
        for s in timers:
            by_shard.setdefault(s.shard_id, []).append(s)
        await bus.publish_many(
            [
                OutMessage(
                    exchange=names.TIMER_EXCHANGE,
                    routing_key=names.shard_routing_key(shard),
                    body=ScheduleTimers(timers=tuple(group)).model_dump_json().encode(),
                )
                for shard, group in by_shard.items()
            ]
        )

    async def finish(timers: list[ScheduleTimer]) -> None:
        await asyncio.sleep(0.02)
        async with engine.begin() as conn:
            for s in timers:
                await conn.execute(
                    sa.delete(t.timers).where(t.timers.c.shard_id == s.shard_id, t.timers.c.key == s.key)
                )

    timer_pid = stack.procs["timer"].pid
    cpu0 = _cpu_seconds(timer_pid)
    start = time.time() + 0.5
    due_of: dict[str, float] = {}
    background: set[asyncio.Task[None]] = set()
    tick = 0.02  # history commits in batches: what became due to arm within one tick goes together
    i = 0
    while i < args.n:
        now = time.time()
        batch: list[ScheduleTimer] = []
        stale: list[ScheduleTimer] = []
        while i < args.n and start + i / args.rate <= now:
            armed_at = datetime.fromtimestamp(start + i / args.rate, UTC)
            user = sched(i, TimerKind.USER_TIMER, armed_at + timedelta(seconds=args.lead))
            user_keys.add(user.key)
            due_of[user.key] = user.fire_at.timestamp()
            batch.append(user)
            stale.extend(
                sched(i * 10 + k, TimerKind.WORKFLOW_TASK_TIMEOUT, armed_at + timedelta(seconds=10))
                for k in range(args.stale)
            )
            i += 1
        if batch:
            await arm(batch + stale)
            if stale:
                task = asyncio.create_task(finish(stale))
                background.add(task)
                task.add_done_callback(background.discard)
        await asyncio.sleep(tick)
    await asyncio.wait_for(done.wait(), timeout=60 + args.lead)
    # Let the stale timeouts fall due (and be dropped or fired) before counting the CPU.
    await asyncio.sleep(10.5)
    cpu = _cpu_seconds(timer_pid) - cpu0
    late = [arrived[k] - due_of[k] for k in user_keys]
    s = latency_summary_ms(late)
    stale_fired = sum(1 for k in arrived if k.endswith(TimerKind.WORKFLOW_TASK_TIMEOUT.value))
    print(
        f"delivered - due ms: p50 {s['p50_ms']:.1f} p95 {s['p95_ms']:.1f} p99 {s['p99_ms']:.1f} "
        f"max {s['max_ms']:.1f} (n={len(late)}); stale fired {stale_fired} of {args.n * args.stale}; "
        f"timer CPU-ms per timer {cpu * 1000 / (args.n * (1 + args.stale)):.2f}",
        flush=True,
    )
    await bus.close()
    await engine.dispose()


async def _table_counts(engine: AsyncEngine) -> dict[str, int]:
    """Index and sequential scans per table, and rows written to `members`, so far."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS scans, "
                    "n_tup_ins + n_tup_upd AS written FROM pg_stat_user_tables"
                )
            )
        ).all()
        xacts = (
            await conn.execute(
                sa.text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            )
        ).scalar_one()
        await conn.rollback()
    # Every statement the timer service sends is a transaction of its own (its reads run in
    # autocommit; membership's are one per heartbeat); this process's own reads are two of them.
    out: dict[str, int] = {"transactions": int(xacts)}
    for r in rows:
        out[f"{r.relname} scans"] = int(r.scans)
        out[f"{r.relname} rows written"] = int(r.written)
    return out


async def _timer_queues_consumed(bus: AmqpBus) -> None:
    """Declare every timer shard's queue and wait until the timer service consumes each one (it
    owns every shard then)."""
    for shard in range(SHARDS):
        await bus.declare_queue(
            QueueSpec(
                name=names.timer_queue(shard),
                bindings=[(names.TIMER_EXCHANGE, names.shard_routing_key(shard))],
            )
        )
    deadline = time.monotonic() + 60
    while not all([(await bus.queue_stats(names.timer_queue(s))).consumers for s in range(SHARDS)]):
        if time.monotonic() > deadline:
            raise TimeoutError("the timer service did not take its shards")
        await asyncio.sleep(0.2)


async def _idle(stack: Stack, seconds: float) -> None:
    """The service owning every shard with nothing to fire: CPU and statements per second."""
    bus = AmqpBus(stack.amqp_url, connection_name="bench-timer-idle")
    await bus.connect()
    engine = create_engine(stack.database_url, pool_size=1)
    await bus.declare_exchange(names.TIMER_EXCHANGE, "direct")
    await _timer_queues_consumed(bus)
    await bus.close()
    await asyncio.sleep(2.0)  # past the acquisitions' recovery reads
    pid = stack.procs["timer"].pid
    print(f"timer service pid {pid}: idle for {seconds:g} s", flush=True)
    # Postgres publishes a backend's counts when its transaction ends, at most once a second.
    before, cpu0, t0 = await _table_counts(engine), _cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = _cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(1.5)
    after = await _table_counts(engine)
    span = t1 - t0
    after["transactions"] -= 2  # the two reads of `before` (this one's ends after its own)
    per_s = {k: (after[k] - before.get(k, 0)) / span for k in after if after[k] != before.get(k, 0)}
    print(
        f"idle {span:.0f} s: timer CPU-ms per second {1000 * (cpu1 - cpu0) / span:.2f}; per second: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_s.items())),
        flush=True,
    )
    await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="user timers (default 1000)")
    p.add_argument("--rate", type=float, default=75.0, help="timers armed per second (default 75)")
    p.add_argument("--lead", type=float, default=2.0, help="seconds between arming and due (default 2)")
    p.add_argument("--stale", type=int, default=1, help="stale timeouts per timer (default 1)")
    p.add_argument("--runs", type=int, default=1, help="runs on the same servers and service (default 1)")
    p.add_argument(
        "--idle", type=float, default=0.0, help="measure the idle cost for this many seconds instead"
    )
    args = p.parse_args(argv)
    print(f"uptime: {uptime()}", flush=True)
    servers = start_servers()
    stack = Stack(amqp_url=servers.amqp_url, database_url=servers.database_url, shard_count=SHARDS)
    try:
        stack.migrate()
        stack.start("timer")
        for _ in range(args.runs):
            run_fast(_idle(stack, args.idle) if args.idle else _one_run(stack, args))
    finally:
        stack.stop_all()
        servers.stop()
    print(f"uptime: {uptime()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
