"""examples/worker.py (the worker image's entry point) and the image's health check script,
against the real stack: services as subprocesses on real RabbitMQ and Postgres."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.deploy._support import ROOT
from tests.support.servers import Postgres, RabbitMQ
from tests.support.stack import Stack, free_port, wait_for

WORKER = ROOT / "examples" / "worker.py"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def stack(rabbitmq: RabbitMQ, postgres: Postgres) -> Iterator[Stack]:
    """One stack for the module (starting one costs tens of seconds on a busy 2-core box); each
    test uses its own task queue."""
    name = f"tidal_deploy_{uuid.uuid4().hex[:10]}"
    database_url = postgres.create_database(name)
    amqp_url = rabbitmq.add_vhost(name) if rabbitmq.can_manage_vhosts else rabbitmq.url
    s = Stack(amqp_url=amqp_url, database_url=database_url, shard_count=4)
    s.migrate()
    try:
        yield s
    finally:
        s.stop_all()
        if rabbitmq.can_manage_vhosts:
            rabbitmq.delete_vhost(name)
        postgres.drop_database(name)


@pytest.fixture(scope="module")
async def running(stack: Stack) -> AsyncIterator[Stack]:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready(timeout=120)
    yield stack


async def run_script(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def worker_env(stack: Stack, **extra: str) -> dict[str, str]:
    # Only what a container would get: the frontend's address; the broker URL comes from
    # GET /api/v1/cluster, as in docker-compose.yml.
    return stack.env(
        TIDAL_FRONTEND_URL=stack.address, TIDAL_TASK_QUEUE=f"hello-{uuid.uuid4().hex[:6]}", **extra
    )


async def test_once_runs_the_sample_workflow_through_the_cluster(running: Stack) -> None:
    code, out = await run_script(str(WORKER), "--once", env=worker_env(running))
    assert code == 0, out[-3000:]
    assert "Hello, Tidal!" in out


async def test_serves_workflows_and_metrics_until_sigterm(running: Stack) -> None:
    from tidal.client import Client

    from examples.hello import HelloWorkflow  # the workflow the worker registers

    port = free_port()
    env = worker_env(running, TIDAL_WORKER_METRICS_PORT=str(port))
    log = running.log_dir / f"tidal-example-worker-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), env=env, cwd=ROOT, stdout=sink, stderr=sink
        )
    try:
        async with httpx.AsyncClient() as http:

            async def metrics_up() -> bool:
                assert proc.returncode is None, log.read_text()[-3000:]
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(metrics_up, timeout=60, what="the worker's /metrics")
        # The image's health check answers "healthy" for this worker.
        code, out = await run_script(str(HEALTHCHECK), env={"TIDAL_WORKER_METRICS_PORT": str(port)})
        assert code == 0, out
        client = await Client.connect(running.address)
        try:
            result = await asyncio.wait_for(
                client.execute_workflow(
                    HelloWorkflow.run,
                    "compose",
                    id=f"hello-{uuid.uuid4().hex[:8]}",
                    task_queue=env["TIDAL_TASK_QUEUE"],
                ),
                timeout=90,
            )
        finally:
            await client.close()
        assert result == "Hello, compose!"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_healthcheck_script_against_the_frontend(running: Stack) -> None:
    code, out = await run_script(
        str(HEALTHCHECK), env={"TIDAL_HEALTHCHECK_URL": f"{running.address}/healthz"}
    )
    assert code == 0, out
    closed = f"http://127.0.0.1:{free_port()}/healthz"
    code, out = await run_script(str(HEALTHCHECK), env={"TIDAL_HEALTHCHECK_URL": closed})
    assert code == 1 and "unhealthy" in out
