"""Bus messages per one-activity workflow, in the embedded mode (docs/performance.md, "Hops and
messages"): `uv run python bench/messages.py [-n 50] [--burst] [--no-eager] [--eager-start]
[--wait-timers]`.

One process holds the server and the worker, so one Prometheus registry sees every publish
(`tidal_bus_messages_published_total`, by exchange) and every consume (`..._consumed_total`, by
queue kind). Workflows run one at a time (or, with --burst, 64 in flight) after a warm-up; the
counters are read before and after and printed per workflow. --wait-timers also waits 35 s for
the task timeouts (10 s) and start-to-close timeouts (30 s) of the finished workflows to fall due
and prints what the timer service fired or dropped as stale. Message counts do not depend on how
busy the machine is, unlike times."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

_FAMILIES = {
    "tidal_bus_messages_published": "published",
    "tidal_bus_messages_consumed": "consumed",
    "tidal_timer_fired": "timer fired",
    "tidal_timer_stale_dropped": "timer stale dropped",
}


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


def _snapshot() -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for fam in REGISTRY.collect():
        what = _FAMILIES.get(fam.name)
        if what is None:
            continue
        for s in fam.samples:
            if s.name.endswith("_total"):
                out[(what, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())))] = s.value
    return out


def _print(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], n: int) -> None:
    totals: dict[str, float] = {}
    for key in sorted(after):
        delta = (after[key] - before.get(key, 0.0)) / n
        if delta:
            print(f"  {key[0]:20} {key[1]:40} {delta:6.2f}")
            totals[key[0]] = totals.get(key[0], 0.0) + delta
    print("  per workflow:", {k: round(v, 2) for k, v in totals.items()})


async def main(args: argparse.Namespace) -> None:
    options = {"disable_eager_activity_execution": True} if args.no_eager else {}
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(
            env.client, task_queue="bench", workflows=[GreetingWorkflow], activities=[greet], **options
        ):
            for i in range(3):
                await env.client.execute_workflow(
                    GreetingWorkflow.run, "w", id=f"warm-{i}", task_queue="bench"
                )
            before, started = _snapshot(), time.perf_counter()
            sem = asyncio.Semaphore(64 if args.burst else 1)

            async def one(i: int) -> None:
                async with sem:
                    await env.client.execute_workflow(
                        GreetingWorkflow.run,
                        "w",
                        id=f"wf-{i}",
                        task_queue="bench",
                        request_eager_start=args.eager_start,
                    )

            await asyncio.gather(*(one(i) for i in range(args.n)))
            elapsed = time.perf_counter() - started
            after = _snapshot()
            print(f"{args.n} workflows {'in a burst' if args.burst else 'one at a time'}, {elapsed:.1f} s")
            _print(before, after, args.n)
            if args.wait_timers:
                await asyncio.sleep(35)  # the timeouts fall due on the real clock
                print("in the 35 s after (timers of the finished workflows):")
                _print(after, _snapshot(), args.n)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--burst", action="store_true", help="64 workflows in flight instead of one")
    p.add_argument("--no-eager", action="store_true", help="Worker(disable_eager_activity_execution=True)")
    p.add_argument("--eager-start", action="store_true", help="start_workflow(request_eager_start=True)")
    p.add_argument("--wait-timers", action="store_true", help="also count the timer fires 35 s later")
    asyncio.run(main(p.parse_args()))
