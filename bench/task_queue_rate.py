"""How closely a task queue's activity rate limit (`max_task_queue_activities_per_second`) is
kept, and that an unlimited queue beside it is not slowed, in the embedded mode.

    uv run python bench/task_queue_rate.py [--cases 2:10,20:100,200:600]

Per case RATE:N, one workflow fans out N activities on a queue limited to RATE/s and, at the same
time, one does the same on an unlimited queue; the activities record their start times on the
worker. Prints the span of the limited starts beside the token bucket's (burst ceil(rate), then
one every 1/rate s), the rate achieved after the burst, and the unlimited queue's span
(docs/task-queue-rates.md has a run's figures).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta

from tidal import activity, workflow
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

STARTS: dict[str, list[float]] = {}


@activity.defn(name="bench_rate_mark")
async def mark(key: str) -> None:
    STARTS.setdefault(key, []).append(time.monotonic())


@workflow.defn(name="BenchRateFanOut")
class FanOut:
    @workflow.run
    async def run(self, key: str, n: int) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(mark, key, start_to_close_timeout=timedelta(seconds=300))
                for _ in range(n)
            )
        )


async def case(env: WorkflowEnvironment, rate: float, n: int) -> str:
    queue = f"bench-rate-{uuid.uuid4().hex[:6]}"
    limited, free = f"{queue}-limited", f"{queue}-free"
    async with (
        Worker(
            env.client,
            task_queue=limited,
            workflows=[FanOut],
            activities=[mark],
            max_task_queue_activities_per_second=rate,
        ),
        Worker(env.client, task_queue=free, workflows=[FanOut], activities=[mark]),
    ):
        await asyncio.gather(
            env.client.execute_workflow(FanOut.run, args=[limited, n], id=limited, task_queue=limited),
            env.client.execute_workflow(FanOut.run, args=[free, n], id=free, task_queue=free),
        )
    lim, fr = sorted(STARTS[limited]), sorted(STARTS[free])
    burst = max(1, -int(-rate // 1))
    span, bucket = lim[-1] - lim[0], max(0, n - burst) / rate
    achieved = (n - burst) / span if span > 0 else float("inf")
    return (
        f"rate {rate:g}/s, {n} activities: span {span:.2f} s (bucket {bucket:.2f} s), "
        f"{achieved:.1f}/s after the burst; unlimited queue's span {fr[-1] - fr[0]:.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="2:10,20:100,200:600", help="RATE:N,... (default %(default)s)")
    args = parser.parse_args()
    cases = [(float(r), int(n)) for r, n in (c.split(":") for c in args.cases.split(","))]
    async with await WorkflowEnvironment.start_local() as env:
        for rate, n in cases:
            print(await case(env, rate, n), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
