"""Fixtures for the frontend's tests: a real Postgres database and a real RabbitMQ vhost (one of
each per test module), the frontend service on them, and a fake history shard responder.

The fake history is a test double for the *history service* (it consumes the real shard queues
and answers with the schema's reply models over the real broker); RabbitMQ and Postgres are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.app import FrontendService
from tidal_frontend.settings import FrontendSettings
from tidal_schema import HistoryEvent, WorkflowExecutionStatus, names
from tidal_schema.messages import (
    HISTORY_MESSAGE,
    AckReply,
    ErrorCode,
    ErrorReply,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    StartWorkflowReply,
    TerminateWorkflowExecution,
)
from tidal_server.bus import AmqpBus, Bus, Consumer, Delivery, OutMessage, QueueSpec
from tidal_server.db import create_engine, current_executions, executions, history_events, migrate
from tidal_server.service import Runtime

from tests.support.servers import Postgres, RabbitMQ, asyncpg_dsn, with_database

SHARDS = 4
DEADLINE = 10.0


@pytest.fixture(scope="module")
async def module_database_url(postgres: Postgres) -> AsyncIterator[str]:
    """A migrated database of its own for the test module (tests use unique workflow ids)."""
    name = f"tidal_frontend_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(postgres.url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(postgres.url, name)
    try:
        await migrate(url)
        yield url
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(postgres.url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
def module_amqp_url(rabbitmq: RabbitMQ) -> Iterator[str]:
    """A vhost of its own: the shard queue names are global, and other tests (history's) consume
    them exclusively."""
    if not rabbitmq.can_manage_vhosts:
        warnings.warn("cannot create vhosts; frontend tests share the broker's vhost", stacklevel=2)
        yield rabbitmq.url
        return
    vhost = f"tidal-frontend-{uuid.uuid4().hex[:12]}"
    url = rabbitmq.add_vhost(vhost)
    try:
        yield url
    finally:
        rabbitmq.delete_vhost(vhost)


@pytest.fixture(scope="module")
async def engine(module_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(module_database_url, pool_size=4)
    try:
        yield eng
    finally:
        await eng.dispose()


async def _bus(url: str, name: str) -> AmqpBus:
    bus = AmqpBus(url, connection_name=name)
    await bus.connect()
    return bus


@dataclass
class FakeHistory:
    """Answers starts (with request-id dedup and the FAIL conflict policy), signals and terminates
    like history does, from memory. Workflow ids in `silent` get no answer (history down)."""

    bus: Bus
    runs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (run_id, request_id)
    received: list[Any] = field(default_factory=list)
    silent: set[str] = field(default_factory=set)
    consumers: list[Consumer] = field(default_factory=list)

    async def start(self) -> None:
        await self.bus.declare_exchange(names.HISTORY_EXCHANGE, "direct")
        await self.bus.declare_exchange(names.NOTIFY_EXCHANGE, "fanout")
        for shard in range(SHARDS):
            queue = names.history_queue(shard)
            await self.bus.declare_queue(
                QueueSpec(name=queue, bindings=[(names.HISTORY_EXCHANGE, names.shard_routing_key(shard))])
            )
            self.consumers.append(await self.bus.consume(queue, self._handle, exclusive=True))

    async def stop(self) -> None:
        for c in self.consumers:
            await c.cancel()

    async def _handle(self, d: Delivery) -> None:
        msg = HISTORY_MESSAGE.validate_json(d.body)
        self.received.append((d.routing_key, msg))
        await d.ack()
        if msg.workflow_id in self.silent:
            return
        reply = self._answer(msg)
        assert d.reply_to
        body = reply.model_dump_json().encode()
        await self.bus.publish(
            # mandatory=False as history publishes replies: RabbitMQ returns a mandatory publish to
            # a direct reply-to address as unroutable even when it delivered it.
            OutMessage(
                exchange="",
                routing_key=d.reply_to,
                correlation_id=d.correlation_id,
                body=body,
                mandatory=False,
            )
        )

    def _answer(self, msg: Any) -> Any:
        key = (msg.namespace, msg.workflow_id)
        current = self.runs.get(key)
        if isinstance(msg, StartWorkflowExecution):
            if current is not None:
                if current[1] == msg.request_id:
                    return StartWorkflowReply(run_id=current[0])
                return ErrorReply(
                    code=ErrorCode.ALREADY_STARTED, message="already running", run_id=current[0]
                )
            run_id = str(uuid.uuid4())
            self.runs[key] = (run_id, msg.request_id)
            return StartWorkflowReply(run_id=run_id)
        if isinstance(msg, SignalWorkflowExecution | TerminateWorkflowExecution):
            if current is None:
                return ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no workflow {msg.workflow_id!r}")
            if isinstance(msg, TerminateWorkflowExecution):
                del self.runs[key]
            return AckReply(run_id=current[0])
        raise AssertionError(f"unexpected {msg!r}")


@pytest.fixture(scope="module")
async def fake_history(module_amqp_url: str) -> AsyncIterator[FakeHistory]:
    bus = await _bus(module_amqp_url, "fake-history")
    fake = FakeHistory(bus)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        await bus.close()


@pytest.fixture(scope="module")
async def frontend_bus(module_amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = await _bus(module_amqp_url, "frontend-test")
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture(scope="module")
async def frontend(
    frontend_bus: AmqpBus,
    engine: AsyncEngine,
    module_amqp_url: str,
    module_database_url: str,
    fake_history: FakeHistory,
) -> AsyncIterator[FrontendService]:
    settings = FrontendSettings(
        http_port=0,
        amqp_url=module_amqp_url,
        database_url=module_database_url,
        shard_count=SHARDS,
        request_timeout_seconds=1.0,
        max_body_bytes=64 * 1024,
        long_poll_max_seconds=30,
    )
    runtime = Runtime(
        bus=frontend_bus, engine=engine, member_id=f"test-{uuid.uuid4().hex[:8]}", shard_count=SHARDS
    )
    service = FrontendService(runtime, settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def client(frontend: FrontendService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=frontend.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://frontend") as c:
        yield c


# --- rows as history writes them --------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


async def insert_run(
    engine: AsyncEngine,
    *,
    workflow_id: str,
    run_id: str | None = None,
    namespace: str = "default",
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING,
    state: dict[str, Any] | None = None,
    result: Any = None,
    events: Sequence[HistoryEvent] = (),
    current: bool = True,
    memo: dict[str, Any] | None = None,
) -> str:
    run_id = run_id or str(uuid.uuid4())
    start = now()
    # The fields every document history writes has (tidal_schema.run_document.RunDocument);
    # `state` adds the ones a test is about.
    document = {
        "namespace": namespace,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "workflow_type": "Greet",
        "task_queue": "tq",
        "shard_id": 0,
        "status": status.value,
        "start_time": start.isoformat(),
        "start_request_id": f"start-{run_id}",
        **(state or {}),
    }
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(executions).values(
                namespace=namespace,
                workflow_id=workflow_id,
                run_id=run_id,
                shard_id=0,
                workflow_type="Greet",
                task_queue="tq",
                status=status.value,
                start_time=start,
                close_time=None if status is WorkflowExecutionStatus.RUNNING else start,
                next_event_id=len(events) + 1,
                version=1,
                state=document,
                memo=memo or {},
                search_attributes={},
                result=result,
            )
        )
        if current:
            await conn.execute(
                sa.delete(current_executions).where(
                    current_executions.c.namespace == namespace,
                    current_executions.c.workflow_id == workflow_id,
                )
            )
            await conn.execute(
                sa.insert(current_executions).values(
                    namespace=namespace,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    status=status.value,
                    start_request_id="r",
                    shard_id=0,
                )
            )
        if events:
            await conn.execute(
                sa.insert(history_events),
                [
                    {
                        "namespace": namespace,
                        "workflow_id": workflow_id,
                        "run_id": run_id,
                        "event_id": e.event_id,
                        "event_type": e.event_type,
                        "event_time": e.event_time,
                        "data": e.model_dump(mode="json"),
                    }
                    for e in events
                ],
            )
    return run_id


async def close_run(
    engine: AsyncEngine,
    *,
    workflow_id: str,
    run_id: str,
    status: WorkflowExecutionStatus,
    result: Any,
    namespace: str = "default",
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(executions)
            .where(
                executions.c.namespace == namespace,
                executions.c.workflow_id == workflow_id,
                executions.c.run_id == run_id,
            )
            .values(status=status.value, close_time=now(), result=result)
        )


@contextlib.contextmanager
def watched(service: FrontendService, key: tuple[str, str, str]) -> Iterator[asyncio.Event]:
    """An event set once a result long poll on `key` is waiting (registered, DB read done)."""
    event = asyncio.Event()
    waiters = service.context.waiters
    waiters.on_watch = lambda k: event.set() if k == key else None
    try:
        yield event
    finally:
        waiters.on_watch = None
