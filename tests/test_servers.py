"""The test servers are real: a broker that confirms and redelivers, a database that answers."""

from __future__ import annotations

import asyncio
import stat
import time
import uuid
from pathlib import Path

import aio_pika
import aiormq
import asyncpg
import pytest

from tests.support.servers import asyncpg_dsn


async def _publish_and_consume(url: str) -> None:
    queue_name = f"tidal-servers-test-{uuid.uuid4().hex[:8]}"
    body = uuid.uuid4().bytes
    connection = await aio_pika.connect_robust(url, timeout=30)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(queue_name, durable=True)
        try:
            # With confirms on, publish() returns only once the broker has taken responsibility.
            confirmation = await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id="m1"),
                routing_key=queue_name,
            )
            assert isinstance(confirmation, aiormq.spec.Basic.Ack), confirmation
            message = await _get(queue)
            assert message.body == body
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert message.message_id == "m1"
            await message.ack()
            assert await queue.get(no_ack=False, fail=False) is None
        finally:
            await queue.delete(if_unused=False, if_empty=False)


async def _get(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with asyncio.timeout(10):
        async with queue.iterator() as messages:
            async for message in messages:
                return message
    raise AssertionError("queue iterator ended without a message")


async def test_rabbitmq_publish_with_confirm_and_consume(amqp_url: str) -> None:
    assert not amqp_url.endswith("/"), "a trailing slash selects the empty vhost"
    await _publish_and_consume(amqp_url)


async def test_fresh_vhost_is_usable_and_separate(amqp_url: str, fresh_vhost_amqp_url: str) -> None:
    await _publish_and_consume(fresh_vhost_amqp_url)
    if fresh_vhost_amqp_url != amqp_url:
        # A queue declared in the fresh vhost is invisible from the default one.
        name = f"tidal-vhost-probe-{uuid.uuid4().hex[:8]}"
        async with await aio_pika.connect(fresh_vhost_amqp_url) as conn:
            await (await conn.channel()).declare_queue(name, auto_delete=False)
        async with await aio_pika.connect(amqp_url) as conn:
            channel = await conn.channel()
            try:
                await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                pass
            else:
                raise AssertionError("queue leaked across vhosts")


async def test_postgres_query(database_url: str) -> None:
    assert database_url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        version = await conn.fetchval("SHOW server_version_num")
        assert int(version) >= 130000
    finally:
        await conn.close()


async def test_fresh_database_is_empty_and_isolated(database_url: str, fresh_database_url: str) -> None:
    assert fresh_database_url != database_url
    conn = await asyncpg.connect(asyncpg_dsn(fresh_database_url))
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
            "('pg_catalog', 'information_schema')"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE t (id int primary key)")
        await conn.execute("INSERT INTO t VALUES (1)")
    finally:
        await conn.close()
    shared = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert await shared.fetchval("SELECT to_regclass('public.t')") is None
    finally:
        await shared.close()


async def test_sqlalchemy_url_form_works(fresh_database_url: str) -> None:
    # The URL is handed to SQLAlchemy as is by the services; prove that form works.
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


def test_private_rabbitmq_has_its_cookie_before_the_node_boots(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node and the first rabbitmqctl must not race to create HOME/.erlang.cookie.

    When each created its own, every CLI call was rejected ("Invalid challenge reply") and the
    chaos suite's broker never came up (CI, stop 17).
    """
    from tests.support import rabbitmq

    if rabbitmq._rabbitmq_bin_dir() is None:
        pytest.skip("no local RabbitMQ binaries")
    seen: dict[str, object] = {}

    def fake_boot(bin_dir: object, env: dict[str, str], *args: object, **kwargs: object) -> None:
        cookie = Path(env["HOME"]) / ".erlang.cookie"
        seen["exists"] = cookie.exists()
        seen["mode"] = stat.S_IMODE(cookie.stat().st_mode) if cookie.exists() else None
        seen["size"] = len(cookie.read_text()) if cookie.exists() else 0
        raise RuntimeError("boot skipped by the test")

    monkeypatch.setattr(rabbitmq, "_boot_local_node", fake_boot)
    with pytest.raises(RuntimeError, match="boot skipped"):
        rabbitmq._start_rabbitmq_local(timeout=5)
    assert seen == {"exists": True, "mode": 0o400, "size": 40}


def test_a_private_rabbitmq_that_never_booted_is_cleaned_up_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A boot that fails before the VM writes its pid file is given up at once.

    The cleanup ran `rabbitmqctl stop <pidfile>`, which waits for the pid file to appear: 60 s
    (its timeout) for a node that never started, CI's second slowest test.
    """
    from tests.support import rabbitmq

    if rabbitmq._rabbitmq_bin_dir() is None:
        pytest.skip("no local RabbitMQ binaries")

    def failed_boot(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boot failed in the test")

    monkeypatch.setattr(rabbitmq, "_boot_local_node", failed_boot)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="boot failed"):
        rabbitmq._start_rabbitmq_local(timeout=5)
    assert time.monotonic() - started < 30


def test_test_servers_ports_are_outside_the_ephemeral_range() -> None:
    """A private server restarted on its old ports (the broker-kill and database-restart tests)
    must find them free: no outgoing connection can be given a port below the ephemeral range
    as its source port, while any from the range can be taken in the seconds the server is down."""
    from tests.support._common import _free_port, ephemeral_port_range

    low, high = ephemeral_port_range()
    ports = [_free_port() for _ in range(50)]
    assert all(1024 < p < low for p in ports), (low, high, ports)
