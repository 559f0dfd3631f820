"""scripts/rabbitmq-users.sh on a real broker: each service gets its own user, and RabbitMQ
itself refuses what a service has no business doing (e.g. matching publishing to history)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika
import aiormq
import pytest
from tidal_schema import names

from tests.support.servers import RabbitMQ

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rabbitmq-users.sh"
SERVICES = ("frontend", "history", "matching", "timer", "worker")
WORKER_NAMESPACES = ("default", "payments.eu")


def _ctl_wrapper(rabbitmq: RabbitMQ, where: Path) -> str:
    """A `rabbitmqctl` for the test's private node (its environment baked in)."""
    env = rabbitmq._env or {}
    exports = "".join(
        f"export {k}={shlex.quote(v)}\n"
        for k, v in env.items()
        if k.startswith(("RABBITMQ_", "ERL_", "HOME"))
    )
    wrapper = where / "rabbitmqctl"
    wrapper.write_text(f'#!/bin/sh\n{exports}exec {rabbitmq._bin_dir}/rabbitmqctl "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper)


@pytest.fixture
def service_urls(rabbitmq: RabbitMQ, fresh_vhost_amqp_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    if rabbitmq.mode != "local":
        pytest.skip("needs the private local broker (rabbitmqctl)")
    vhost = urlsplit(fresh_vhost_amqp_url).path.lstrip("/")
    passwords = {s: uuid.uuid4().hex for s in SERVICES}
    env = {**os.environ, "RABBITMQCTL": _ctl_wrapper(rabbitmq, tmp_path)}
    env.update({f"TIDAL_RMQ_PASSWORD_{s.upper()}": p for s, p in passwords.items()})
    # Per-namespace worker users (passwords generated and printed by the script).
    env["TIDAL_RMQ_WORKER_NAMESPACES"] = " ".join(WORKER_NAMESPACES)
    for ns in WORKER_NAMESPACES:
        passwords[f"worker-{ns}"] = uuid.uuid4().hex
        env[f"TIDAL_RMQ_PASSWORD_WORKER_{ns.upper().replace('.', '_')}"] = passwords[f"worker-{ns}"]
    done = subprocess.run(
        ["sh", str(SCRIPT), vhost], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert all(f"tidal-{s}: permissions set on vhost {vhost}" in done.stdout for s in SERVICES)
    assert all(f"tidal-worker-{ns}: permissions set" in done.stdout for ns in WORKER_NAMESPACES)
    host, port = rabbitmq.host, rabbitmq.port
    yield {s: f"amqp://tidal-{s}:{p}@{host}:{port}/{quote(vhost, safe='')}" for s, p in passwords.items()} | {
        "admin": fresh_vhost_amqp_url
    }


async def _publish(url: str, exchange: str, routing_key: str) -> None:
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        ex = await channel.get_exchange(exchange, ensure=False)
        await ex.publish(aio_pika.Message(b"{}"), routing_key=routing_key)
    finally:
        await conn.close()


async def test_least_privilege_users(service_urls: dict[str, str]) -> None:
    admin = await aio_pika.connect(service_urls["admin"])
    try:
        ch = await admin.channel()
        await ch.declare_exchange(names.HISTORY_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        q = await ch.declare_queue(names.history_queue(0), durable=True)
        await q.bind(names.HISTORY_EXCHANGE, names.shard_routing_key(0))
    finally:
        await admin.close()
    key = names.shard_routing_key(0)
    # Allowed: the frontend, the timer and workers publish to history.
    for service in ("frontend", "timer", "worker"):
        await _publish(service_urls[service], names.HISTORY_EXCHANGE, key)
    # Refused by the broker: matching has nothing to say to history.
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish(service_urls["matching"], names.HISTORY_EXCHANGE, key)
    # A worker cannot consume a history shard queue.
    conn = await aio_pika.connect(service_urls["worker"])
    try:
        ch = await conn.channel()
        queue = await ch.get_queue(names.history_queue(0), ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await queue.consume(lambda m: None)
    finally:
        await conn.close()
    # A namespace's worker user reads only its namespace's task queues (issue 9, #10); like
    # every worker it may still publish to history (not confinable: docs/security.md).
    await _namespace_worker_is_confined(service_urls)
    # A user without the password gets nowhere.
    bad = service_urls["history"].replace("tidal-history:", "tidal-history:x")
    with pytest.raises(Exception, match=r"ACCESS_REFUSED|auth|credentials|refused"):
        await aio_pika.connect(bad)


async def _namespace_worker_is_confined(service_urls: dict[str, str]) -> None:
    mine = names.workflow_task_queue("payments.eu", "q")
    theirs = [names.workflow_task_queue(ns, "q") for ns in ("default", "payments", "payments-eu")]
    admin = await aio_pika.connect(service_urls["admin"])
    try:
        ch = await admin.channel()
        for name in (mine, *theirs):
            await ch.declare_queue(name, durable=True)
    finally:
        await admin.close()
    url = service_urls["worker-payments.eu"]
    conn = await aio_pika.connect(url)
    try:
        ch = await conn.channel()
        await (await ch.get_queue(mine, ensure=False)).consume(lambda m: None)
    finally:
        await conn.close()
    for name in theirs:
        conn = await aio_pika.connect(url)
        try:
            ch = await conn.channel()
            queue = await ch.get_queue(name, ensure=False)
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await queue.consume(lambda m: None)
        finally:
            await conn.close()
        conn = await aio_pika.connect(url)
        try:
            ch = await conn.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await ch.declare_queue(name.replace(".q.", ".other."), durable=True)
        finally:
            await conn.close()
    await _publish(url, names.HISTORY_EXCHANGE, names.shard_routing_key(0))


async def test_stack_runs_with_the_per_service_users(
    service_urls: dict[str, str], fresh_database_url: str, tmp_path: Path
) -> None:
    """The permissions are enough: every service as its own process with its own user, a worker
    with the default namespace's worker user, and a workflow with an activity completes."""
    from tidal.client import Client
    from tidal.worker import Worker

    from tests.support.stack import SERVICES as STACK_SERVICES
    from tests.support.stack import Stack
    from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow

    stack = Stack(amqp_url=service_urls["admin"], database_url=fresh_database_url, log_dir=tmp_path)
    stack.migrate()
    try:
        for name in STACK_SERVICES:
            # Workers get the default namespace's own worker user: its permissions are enough.
            stack.start(
                name, TIDAL_AMQP_URL=service_urls[name], TIDAL_WORKER_AMQP_URL=service_urls["worker-default"]
            )
        await stack.wait_ready()
        client = await Client.connect(stack.address)
        try:
            async with Worker(client, task_queue="users", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
                result = await client.execute_workflow(
                    GreetingWorkflow.run, "users", id=f"users-{uuid.uuid4().hex[:8]}", task_queue="users"
                )
            assert result == "Hello, users!"
        finally:
            await client.close()
        for name in STACK_SERVICES:
            assert "ACCESS_REFUSED" not in stack.log_of(name), stack.log_of(name)[-3000:]
    finally:
        stack.stop_all()


def test_compose_definitions_file_is_generated_from_the_script() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rabbitmq_definitions.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_definitions_load_into_rabbitmq_and_their_passwords_work(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    """What docker compose's broker loads at boot: a real RabbitMQ imports the file, each service
    user authenticates with its development password, and has exactly the script's permissions."""
    if rabbitmq.mode != "local":
        pytest.skip("needs the private local broker (rabbitmqctl)")
    ctl = _ctl_wrapper(rabbitmq, tmp_path)
    definitions = ROOT / "deploy" / "rabbitmq" / "definitions.json"
    users = [u["name"] for u in json.loads(definitions.read_text())["users"]]
    assert set(users) == {"tidal", *(f"tidal-{s}" for s in SERVICES)}

    def run(*args: str) -> str:
        done = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        run("import_definitions", str(definitions))
        for user in users:
            run("authenticate_user", user, user)  # dev password = the user name (tidal: tidal)
        perms = run("list_user_permissions", "-q", "--no-table-headers", "tidal-matching")
        assert "tidal\\.matching" in perms and "tidal\\.history" not in perms.split("\t")[2]
    finally:
        for user in users:
            subprocess.run([ctl, "delete_user", user], capture_output=True, timeout=120, check=False)
