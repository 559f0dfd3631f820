"""A dependency outage while requests flow: every answer is a 2xx or a retryable 503, never a 500.

Found by the chaos suite: its client counted retries after "http 500" from the frontend while
Postgres was being restarted. The frontend's reads run on pooled connections without a pre-ping
(a round trip per checkout on the hot path), so the first statement on a connection the crash had
closed failed with SQLAlchemy's generic `DBAPIError` ("connection was closed in the middle of
operation"), which the error mapping did not know and answered as `internal` (500): a client
that retries only what is retryable gave up on a request that was perfectly safe to repeat.

Here Postgres is crashed (immediate stop) and started again while starts, result long polls,
describes and history reads flow. Every
non-2xx answer must be a 503 problem body with Retry-After; every start, retried with its request
id until acknowledged, must have made exactly one run. The embedded mode has no server to lose
(SQLite in process); the mapping itself is held by `services/frontend/tests/test_problems.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tidal.client import Client
from tidal.exceptions import RPCError
from tidal.worker import Worker
from tidal_schema import names

from tests.support.postgres import Postgres, start_private_postgres
from tests.support.servers import ServerUnavailableError
from tests.support.stack import SERVICES, Stack, wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE

BASE = "/api/v1/namespaces/default/workflows"


@pytest.fixture
def private_postgres() -> Iterator[Postgres]:
    try:
        # Durable (fsync and synchronous_commit on): with them off an immediate stop loses the
        # last commits' WAL, so a start history had committed and acknowledged vanished and the
        # exactly-once check below failed in CI for a reason of the test's making.
        server = start_private_postgres(durable=True)
    except ServerUnavailableError as exc:
        pytest.skip(f"needs the local Postgres binaries to crash a database: {exc}")
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Answers:
    ok: int = 0
    bad: list[tuple[str, int, dict[str, str], Any]] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # workflow id -> run id of its 2xx

    def record(self, what: str, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            self.ok += 1
            return
        try:
            body = resp.json()
        except ValueError:
            body = resp.text[:200]
        self.bad.append((what, resp.status_code, dict(resp.headers), body))


def _start_body(workflow_id: str, request_id: str) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "workflow_type": "GreetingWorkflow",
        "task_queue": TASK_QUEUE,
        "input": [{"metadata": {"encoding": "json/plain"}, "data": workflow_id}],
        "request_id": request_id,
    }


async def _one_workflow(http: httpx.AsyncClient, answers: Answers, deadline: float) -> None:
    """Start (retrying 503s and cut connections with the same request id), then read it back."""
    workflow_id = f"outage-{uuid.uuid4()}"
    request_id = uuid.uuid4().hex
    while time.monotonic() < deadline:
        try:
            resp = await http.post(BASE, json=_start_body(workflow_id, request_id))
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        answers.record("start", resp)
        if resp.status_code in (200, 201):
            answers.acked[workflow_id] = resp.json()["run_id"]
            break
        if resp.status_code != 503:
            return
        await asyncio.sleep(0.1)
    for what, path, params in (
        ("describe", f"{BASE}/{workflow_id}", {}),
        ("history", f"{BASE}/{workflow_id}/history", {}),
        ("result", f"{BASE}/{workflow_id}/result", {"wait": "1"}),
    ):
        try:
            resp = await http.get(path, params=params)
        except httpx.TransportError:
            continue
        answers.record(what, resp)


async def _load(http: httpx.AsyncClient, answers: Answers, stop: asyncio.Event, deadline: float) -> None:
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.gather(*(_one_workflow(http, answers, deadline) for _ in range(8)))


async def test_a_postgres_crash_answers_503_with_retry_after_never_500(
    private_postgres: Postgres, fresh_vhost_amqp_url: str, tmp_path: Path
) -> None:
    database_url = private_postgres.create_database(f"outage_{uuid.uuid4().hex[:12]}")
    stack = Stack(amqp_url=fresh_vhost_amqp_url, database_url=database_url, log_dir=tmp_path)
    stack.migrate()
    try:
        for name in SERVICES:
            stack.start(name)
        await stack.wait_ready()
        client = await Client.connect(stack.address, amqp_url=fresh_vhost_amqp_url)
        async with (
            Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
            httpx.AsyncClient(base_url=stack.address, timeout=30.0) as http,
        ):
            answers = Answers()
            deadline = time.monotonic() + 120
            stop = asyncio.Event()
            load = asyncio.create_task(_load(http, answers, stop, deadline))
            # Requests flowing and connections pooled before the crash.
            await wait_for(lambda: answers.ok >= 40 or load.done(), timeout=60, what="requests to flow")
            await asyncio.to_thread(private_postgres.kill, crash=True)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(private_postgres.start_again)
            ok_after = answers.ok
            await wait_for(
                lambda: answers.ok >= ok_after + 80 or load.done(),
                timeout=90,
                what="requests to succeed again after the restart",
            )
            stop.set()
            await load

            internal = [b for b in answers.bad if b[1] >= 500 and b[1] != 503]
            assert not internal, f"{len(internal)} non-retryable 5xx answers, first: {internal[:3]}"
            for what, status, headers, body in answers.bad:
                assert status == 503, (what, status, body)
                assert headers.get("content-type") == "application/problem+json", (what, headers)
                assert body["code"] == "unavailable", (what, body)
                assert int(headers["retry-after"]) >= 1, (what, headers)
            assert answers.acked, "no start was acknowledged"

            # Exactly once: each acknowledged start is the workflow's one run, and it completes.
            for workflow_id, run_id in answers.acked.items():
                handle = client.get_workflow_handle(workflow_id)
                described = await handle.describe()
                assert described.run_id == run_id, workflow_id
                assert await handle.result() == f"Hello, {workflow_id}!"
        await client.close()
    finally:
        stack.stop_all()


def _publish_command(url: str, routing_key: str, body: dict[str, Any], message_id: str) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        conn.channel().basic_publish(
            exchange=names.COMMANDS_EXCHANGE,
            routing_key=routing_key,
            body=json.dumps(body).encode(),
            properties=pika.BasicProperties(
                content_type="application/json", delivery_mode=2, message_id=message_id
            ),
        )
    finally:
        conn.close()


async def test_an_amqp_command_during_a_postgres_outage_is_retried_not_dead_lettered(
    private_postgres: Postgres, fresh_vhost_amqp_url: str, tmp_path: Path
) -> None:
    """Found with the test above: the command ingress took a database error while checking the
    namespace (the cache had expired) for a bug and dead-lettered a good command as `internal`.
    It must be requeued like any `unavailable` and applied once Postgres is back."""
    database_url = private_postgres.create_database(f"outage_{uuid.uuid4().hex[:12]}")
    stack = Stack(amqp_url=fresh_vhost_amqp_url, database_url=database_url, log_dir=tmp_path)
    stack.migrate()
    try:
        for name in SERVICES:
            # Every command looks its namespace up in the database (no cached answer to hide
            # the outage behind); logs unbuffered, as the test waits for a line.
            stack.start(name, TIDAL_NAMESPACE_CACHE_SECONDS="0", PYTHONUNBUFFERED="1")
        await stack.wait_ready()
        client = await Client.connect(stack.address, amqp_url=fresh_vhost_amqp_url)
        async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            warm = f"outage-amqp-{uuid.uuid4()}"
            await asyncio.to_thread(
                _publish_command, fresh_vhost_amqp_url, "start", _command(warm), f"{warm}-start"
            )
            assert await _result_once_started(client, warm) == f"Hello, {warm}!"

            await asyncio.to_thread(private_postgres.kill, crash=True)
            workflow_id = f"outage-amqp-{uuid.uuid4()}"
            await asyncio.to_thread(
                _publish_command, fresh_vhost_amqp_url, "start", _command(workflow_id), f"{workflow_id}-start"
            )
            # Let the frontend take the command and fail on the database at least once.
            await wait_for(
                lambda: (
                    "requeueing" in stack.log_of("frontend") or "dead-lettering" in stack.log_of("frontend")
                ),
                timeout=60,
                what="the frontend to try the command while Postgres is down",
            )
            await asyncio.to_thread(private_postgres.start_again)
            assert "dead-lettering" not in stack.log_of("frontend")
            assert await _result_once_started(client, workflow_id) == f"Hello, {workflow_id}!"
        await client.close()
    finally:
        stack.stop_all()


async def _result_once_started(client: Client, workflow_id: str) -> Any:
    """The result of a workflow started by an AMQP command (which is applied asynchronously)."""
    handle = client.get_workflow_handle(workflow_id)

    async def started() -> bool:
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status != "not_found":
                raise
            return False
        return True

    await wait_for(started, timeout=90, interval=0.2, what=f"{workflow_id} to start")
    return await handle.result()


def _command(workflow_id: str) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "workflow_type": "GreetingWorkflow",
        "task_queue": TASK_QUEUE,
        "args": [workflow_id],
    }
