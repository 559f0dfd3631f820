"""A temporalio worker for the bench's shapes, in its own process (as the Tidal worker is).

    python bench/peers/temporal_worker.py TARGET TASK_QUEUE [--concurrency 100]

Prints READY on stdout once it polls; stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from temporal_shapes import ACTIVITIES, WORKFLOWS
from temporalio.client import Client
from temporalio.worker import Worker


async def serve(target: str, task_queue: str, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(target)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("task_queue")
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(serve(args.target, args.task_queue, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
