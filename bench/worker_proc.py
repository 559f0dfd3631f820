"""A Tidal worker (every bench shape: bench/peers/tidal_shapes.py) in its own process.

    python bench/worker_proc.py ADDRESS AMQP_URL TASK_QUEUE [--profile OUT.pstats]

Prints READY on stdout once it consumes; stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal
import sys
import time

from common import run_fast  # also puts the repo root on sys.path
from peers.tidal_shapes import ACTIVITIES, WORKFLOWS
from tidal.client import Client
from tidal.worker import Worker


async def serve(address: str, amqp_url: str, task_queue: str, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address, amqp_url=amqp_url)
    try:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            max_concurrent_workflow_tasks=concurrency,
            max_concurrent_activities=concurrency,
        ):
            print("READY", flush=True)
            await stop.wait()
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("amqp_url")
    parser.add_argument("task_queue")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--profile", default=None, help="write cProfile stats here on exit")
    args = parser.parse_args()
    # TIDAL_PROFILE_CLOCK=thread: the main thread's CPU time instead of wall time, so that a
    # loaded box (a runnable thread waiting for a core) does not inflate what the loop does.
    timer = time.thread_time if os.environ.get("TIDAL_PROFILE_CLOCK") == "thread" else None
    profiler = (cProfile.Profile(timer) if timer else cProfile.Profile()) if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        run_fast(serve(args.address, args.amqp_url, args.task_queue, args.concurrency))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
