"""Metrics of the real stack: every service as its own process with its ops port, an SDK worker
with its metrics port, and a real Prometheus server (Debian's binary) scraping them all during a
short workload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tidal.client import Client
from tidal.worker import Worker

from tests.observability import tools
from tests.support.stack import SERVICES, Stack, free_port, wait_for
from tests.support.workflows import GreetingWorkflow, greet

TASK_QUEUE = "obs-metrics"


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


@contextlib.contextmanager
def prometheus(targets: dict[str, str], data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A private Prometheus on loopback scraping `targets` (job -> host:port) every second."""
    binary = tools.binary("prometheus")
    port = free_port()
    scrape = [
        {"job_name": job, "scrape_interval": "1s", "static_configs": [{"targets": [target]}]}
        for job, target in targets.items()
    ]
    config = data_dir / "prometheus.yml"
    # JSON is YAML.
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape}))
    with open(data_dir / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _prometheus_ready(
    http: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    async def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{log.read_text()[-3000:]}")  # noqa: ASYNC240
        with contextlib.suppress(httpx.HTTPError):
            return (await http.get(f"{url}/-/ready", timeout=2)).status_code == 200
        return False

    await wait_for(ready, timeout=60, interval=0.2, what="prometheus to be ready")


async def _query(http: httpx.AsyncClient, url: str, expr: str) -> list[float]:
    r = await http.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert body.get("status") == "success", (expr, body)
    return [float(s["value"][1]) for s in body["data"]["result"]]


async def test_real_stack_metrics_scraped_by_prometheus(stack: Stack, tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES if name != "frontend"}
    for name in SERVICES:
        extra = {"TIDAL_METRICS_PORT": str(ports[name])} if name in ports else {}
        stack.start(name, **extra)
    await stack.wait_ready()
    endpoints = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    endpoints["frontend"] = f"127.0.0.1:{stack.http_port}"
    worker_port = free_port()
    endpoints["worker"] = f"127.0.0.1:{worker_port}"

    async with httpx.AsyncClient() as http:
        for name, port in ports.items():
            # /healthz answers as soon as the process runs; /readyz once its services started.
            health = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.status_code == 200, name
            await wait_for(
                lambda p=port: _ok(http, f"http://127.0.0.1:{p}/readyz"), timeout=60, what=f"{name} /readyz"
            )

        client = await Client.connect(stack.address)
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[GreetingWorkflow],
            activities=[greet],
            metrics_port=worker_port,
        )
        with prometheus(endpoints, tmp_path) as (prom, proc):
            await _prometheus_ready(http, prom, proc, tmp_path / "prometheus.log")
            async with worker:
                await _workload_seen_by_prometheus(client, http, prom, len(endpoints))
                pages = {
                    name: (await http.get(f"http://{target}/metrics", timeout=10))
                    for name, target in endpoints.items()
                }
        await client.close()

    exposed: set[str] = set()
    for name, page in pages.items():
        assert page.status_code == 200, name
        check = tools.promtool_check_metrics(page.text)
        assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), (
            f"promtool check metrics on {name}:\n{check.stdout}{check.stderr}"
        )
        exposed |= tools.exposed_names(page.text)

    # Each service exports its own figures.
    for name, metric in {
        "history": "tidal_history_batch_duration_seconds_count",
        "matching": "tidal_matching_tasks_dispatched_total",
        "timer": "tidal_timer_shards_owned",
        "frontend": "tidal_frontend_requests_total",
        "worker": "tidal_worker_workflow_tasks_total",
    }.items():
        assert metric in tools.exposed_names(pages[name].text), (name, metric)

    # Every metric a dashboard shows is exported by a running service (or RabbitMQ's plugin).
    missing = {
        (dashboard, m)
        for dashboard, exprs in tools.dashboard_queries().items()
        for e in exprs
        for m in tools.metric_names(e)
        if m not in exposed and m not in tools.RABBITMQ_METRICS
    }
    assert not missing, sorted(missing)
    # ... and so is every metric an alert uses.
    alert_metrics = tools.metric_names(tools.ALERTS.read_text())
    assert alert_metrics <= exposed, sorted(alert_metrics - exposed)


async def _workload_seen_by_prometheus(
    client: Client, http: httpx.AsyncClient, prom: str, targets: int
) -> None:
    """Run workflows until Prometheus shows non-zero throughput and latency series."""
    stop = asyncio.Event()

    async def workload() -> None:
        while not stop.is_set():
            handles = [
                await client.start_workflow(
                    GreetingWorkflow.run, "metrics", id=f"m-{uuid.uuid4().hex[:10]}", task_queue=TASK_QUEUE
                )
                for _ in range(5)
            ]
            for h in handles:
                assert await h.result() == "Hello, metrics!"

    load = asyncio.create_task(workload())
    try:

        async def positive(expr: str) -> bool:
            if load.done():
                load.result()  # surface a workload failure instead of a timeout
            values = await _query(http, prom, expr)
            return bool(values) and all(v > 0 for v in values)  # NaN > 0 is False

        for expr in (
            "sum(rate(tidal_workflow_closed_total[10s]))",
            "sum(rate(tidal_workflow_started_total[10s]))",
            "histogram_quantile(0.5, sum by (le) (rate(tidal_workflow_duration_seconds_bucket[10s])))",
            "histogram_quantile(0.99, sum by (le) "
            "(rate(tidal_frontend_request_duration_seconds_bucket[10s])))",
            "sum(rate(tidal_worker_activity_tasks_total[10s]))",
        ):
            await wait_for(lambda e=expr: positive(e), timeout=120, interval=0.5, what=f"{expr} > 0")

        async def all_up() -> bool:
            return await _query(http, prom, "up") == [1.0] * targets

        # A scrape can miss under CPU contention; every target must answer at least once together.
        await wait_for(all_up, timeout=60, interval=0.5, what=f"up == 1 for all {targets} targets")
    finally:
        stop.set()
        await load


async def _ok(http: httpx.AsyncClient, url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await http.get(url, timeout=2)).status_code == 200
    return False
