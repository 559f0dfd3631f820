"""All four services in one process over the in-memory bus and SQLite: `tidal-server dev` and
the SDK's `WorkflowEnvironment.start_local()`.

Services are found through the `tidal.services` entry points, so this library never imports a
service package (services depend on it, not the reverse).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tidal_schema import names

from .bus import Handler, InMemoryBus, OutMessage, QueueSpec
from .bus._api import Consumer
from .clock import Clock, SystemClock
from .db import tables
from .db.engine import create_engine
from .db.migrate import migrate
from .gc_freeze import freeze_startup_heap
from .host import PREFERRED_ORDER, load_factories
from .service import Runtime, Service
from .settings import CommonSettings
from .stored_shards import shard_count_for, stored_shard_count

log = logging.getLogger("tidal.embedded")

DEFAULT_SHARD_COUNT = 4
"""History shards of a new embedded database when none is asked for (`shard_count=None`, what
`WorkflowEnvironment.start_local()` passes by default). In one process shards share one event
loop and one SQLite connection, so they add no parallelism; one shard was tried (session 11) and
saved too little CPU to measure against the noise while every timer fire waited for the one
shard's batch in progress (fired - due p50 35-61 ms against 12-14 ms with four:
docs/performance.md, "Embedded mode"). An existing database keeps the count it was used with
(`stored_shards.py`): opened with fewer, the other shards' timers would never load."""


class BusWorkerTransport:
    """The SDK's worker transport over the in-process bus (matches `tidal._transport.
    WorkerTransport` structurally)."""

    def __init__(self, bus: InMemoryBus, *, max_message_bytes: int) -> None:
        self._bus = bus
        self._sticky: list[str] = []
        self.max_message_bytes = max_message_bytes

    async def declare_task_queue(self, name: str, *, sticky: bool) -> None:
        if sticky:
            self._sticky.append(name)
            await self._bus.declare_queue(
                QueueSpec(name=name, durable=False, auto_delete=True, dead_letter=False)
            )
        else:
            await self._bus.declare_queue(QueueSpec(name=name, max_priority=names.TASK_QUEUE_MAX_PRIORITY))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Consumer:
        return await self._bus.consume(queue, handler, prefetch=prefetch)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        await self._bus.publish(
            OutMessage(
                exchange=exchange,
                routing_key=routing_key,
                body=body,
                reply_to=reply_to,
                correlation_id=correlation_id,
                mandatory=correlation_id is None,
            )
        )

    async def publish_notice(self, exchange: str, routing_key: str, body: bytes) -> None:
        await self._bus.publish(
            OutMessage(exchange=exchange, routing_key=routing_key, body=body, mandatory=False)
        )

    async def close(self) -> None:
        # A worker's sticky queue goes with it, as an exclusive queue does on RabbitMQ.
        for name in self._sticky:
            await self._bus.delete_queue(name)
        self._sticky.clear()


class EmbeddedServer:
    def __init__(
        self,
        *,
        database_path: str | None = None,
        shard_count: int | None = None,
        http_port: int = 0,
        clock: Clock | None = None,
        max_message_bytes: int | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        freeze_heap: bool = True,
    ) -> None:
        """`shard_count`: None (the default) for the count the database's runs are stored under
        (a file an earlier server used), else `DEFAULT_SHARD_COUNT`; a count other than the
        stored one is refused at `start()` (`ShardCountMismatchError`);
        `settings`: per-service settings over the environment (e.g. a small history limit in a
        test); `max_message_bytes`: the bus limit every service then uses too; `freeze_heap`:
        once started, keep the garbage collector off what the process holds (`gc_freeze.py`;
        once per process)."""
        self._db_path = database_path
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._requested_shards = shard_count
        self.shard_count = shard_count or DEFAULT_SHARD_COUNT
        self.http_port = http_port
        self.clock = clock or SystemClock()
        self._max_message_bytes = max_message_bytes or CommonSettings().max_message_bytes
        self._settings = {k: dict(v) for k, v in (settings or {}).items()}
        self.bus = InMemoryBus(max_message_bytes=self._max_message_bytes)
        self.services: dict[str, Service] = {}
        self.runtime: Runtime | None = None
        self._freeze_heap = freeze_heap

    @property
    def database_url(self) -> str:
        assert self._db_path is not None
        return f"sqlite+aiosqlite:///{self._db_path}"

    async def start(self) -> None:
        if self._db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tidal-embedded-")
            self._db_path = str(Path(self._tmp.name) / "tidal.sqlite3")
        else:
            path = await asyncio.to_thread(_prepare_path, self._db_path)
            self._db_path = str(path)
        await migrate(self.database_url)
        await self.bus.connect()
        engine = create_engine(self.database_url, sqlite_on_loop=True)
        try:
            self.shard_count = shard_count_for(
                await stored_shard_count(engine),
                self._requested_shards,
                DEFAULT_SHARD_COUNT,
                database=self._db_path,
            )
        except Exception:
            await engine.dispose()
            await self.bus.close()
            raise
        self.runtime = Runtime(
            bus=self.bus,
            engine=engine,
            member_id=f"embedded-{uuid.uuid4().hex[:8]}",
            shard_count=self.shard_count,
            clock=self.clock,
            embedded=True,
            overrides=self._overrides(),
        )
        factories = load_factories(PREFERRED_ORDER)
        for name in PREFERRED_ORDER:
            service = factories[name](self.runtime)
            await service.start()
            self.services[name] = service
        if self._freeze_heap and freeze_startup_heap():
            log.debug("startup heap frozen (%d objects)", gc.get_freeze_count())
        log.info("embedded Tidal started (%d shards, database %s)", self.shard_count, self._db_path)

    def _overrides(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in PREFERRED_ORDER:
            out[name] = {"max_message_bytes": self._max_message_bytes, **self._settings.get(name, {})}
        out["frontend"]["http_port"] = self.http_port
        return out

    async def stop(self) -> None:
        for name in reversed(list(self.services)):
            try:
                await self.services[name].stop()
            except Exception:
                log.exception("stopping %s failed", name)
        self.services.clear()
        if self.runtime is not None:
            await self.runtime.engine.dispose()
            self.runtime = None
        await self.bus.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def asgi_app(self) -> Any:
        return self.services["frontend"].asgi_app  # type: ignore[attr-defined]

    @property
    def inprocess_calls(self) -> Any:
        """The frontend's in-process adapter (`tidal_frontend.inprocess.InProcessCalls`): the
        start and result calls of a client in this process, answered without HTTP."""
        return self.services["frontend"].inprocess_calls  # type: ignore[attr-defined]

    def worker_transport(self) -> BusWorkerTransport:
        return BusWorkerTransport(self.bus, max_message_bytes=self._max_message_bytes)

    @property
    def http_address(self) -> str | None:
        """`http://host:port` of the HTTP API when it is served (`http_port`), else None."""
        frontend: Any = self.services.get("frontend")
        port = getattr(frontend, "port", None)
        if not port:
            return None
        return f"http://{frontend.settings.http_host}:{port}"

    async def register_search_attributes(self, namespace: str, types: Mapping[str, str]) -> None:
        """Register custom search attributes ahead of first use (`tidal-server search-attribute
        add`): `types` maps names to Keyword, Text, Int, Double, Bool or Datetime."""
        from .visibility.admin import register
        from .visibility.attributes import SearchAttributeType

        assert self.runtime is not None, "start() first"
        for name, kind in types.items():
            await register(self.runtime.engine, namespace, name, SearchAttributeType(kind))

    # --- for the time-skipping test environment ---------------------------------------------

    def busy(self) -> bool:
        """Work is in flight: messages queued or being handled, or the timer service is not
        parked. Time may only be skipped when this stays False."""
        timer: Any = self.services.get("timer")
        return self.bus.busy() or (timer is not None and not timer.idle())

    async def next_timer_due(self) -> datetime | None:
        """The earliest durable timer (the `timers` table is the truth; the timer service's heap
        only holds the next window)."""
        assert self.runtime is not None
        async with self.runtime.engine.connect() as conn:
            due: datetime | None = (
                await conn.execute(sa.select(sa.func.min(tables.timers.c.fire_at)))
            ).scalar()
        if due is None:
            return None
        return due if due.tzinfo is not None else due.replace(tzinfo=UTC)


def _prepare_path(raw: str) -> Path:
    path = Path(raw).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
