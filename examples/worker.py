"""An example worker for a real cluster (docker compose, Kubernetes): runs the sample workflow and
activity of `examples/hello.py` on task queue "hello" until SIGTERM/SIGINT.

Settings (environment, `TIDAL_` prefix):
  TIDAL_FRONTEND_URL         the frontend's HTTP API (default http://127.0.0.1:7243)
  TIDAL_NAMESPACE            default "default"
  TIDAL_TASK_QUEUE           default "hello"
  TIDAL_WORKER_AMQP_URL      broker for the worker's queues (default: what the frontend's
                             GET /api/v1/cluster says)
  TIDAL_WORKER_METRICS_PORT  serve Prometheus /metrics on this port (default: off)
  TIDAL_API_KEY              bearer token for the frontend, if it asks for one

`python examples/worker.py --once` runs one sample workflow through the cluster and exits 0 when
it returns the expected greeting (a smoke test, e.g. `docker compose run --rm worker --once`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hello import HelloWorkflow, compose_greeting
from tidal.client import Client
from tidal.worker import Worker

log = logging.getLogger("tidal.example.worker")


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDAL_", extra="ignore", frozen=True)

    frontend_url: str = "http://127.0.0.1:7243"
    namespace: str = "default"
    task_queue: str = "hello"
    worker_amqp_url: str | None = None
    worker_metrics_port: int | None = None
    api_key: str | None = None


def _worker_options(settings: WorkerSettings) -> dict[str, Any]:
    """Metrics: the SDK's own `metrics_port` when this SDK has it, else the process metrics of
    prometheus_client's default registry (so the port answers and Prometheus can scrape it)."""
    if settings.worker_metrics_port is None:
        return {}
    if "metrics_port" in inspect.signature(Worker).parameters:
        return {"metrics_port": settings.worker_metrics_port}
    import prometheus_client

    prometheus_client.start_http_server(settings.worker_metrics_port)
    return {}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--once", action="store_true", help="run one sample workflow, then exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings = WorkerSettings()
    client = await Client.connect(
        settings.frontend_url,
        namespace=settings.namespace,
        amqp_url=settings.worker_amqp_url,
        api_key=settings.api_key,
    )
    try:
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[HelloWorkflow],
            activities=[compose_greeting],
            **_worker_options(settings),
        ):
            log.info("worker on task queue %r of %s", settings.task_queue, settings.frontend_url)
            if args.once:
                result = await client.execute_workflow(
                    HelloWorkflow.run,
                    "Tidal",
                    id=f"hello-{uuid.uuid4().hex[:8]}",
                    task_queue=settings.task_queue,
                )
                print(result, flush=True)
                return 0 if result == "Hello, Tidal!" else 1
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log.info("stopping")
            return 0
    finally:
        await client.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
