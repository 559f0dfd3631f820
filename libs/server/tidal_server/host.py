"""Hosting services in a process: discovery through entry points, the runtime's I/O edges, and
ordered start/stop.

Services are found through the `tidal.services` entry-point group (``history =
"tidal_history.app:build"``) and never imported by name here: services depend on tidal_server,
not the reverse, and a deployment can add a service by installing a package.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .bus import AmqpBus, Bus, InMemoryBus
from .db import check_schema_engine, create_engine, migrate_engine, redact
from .service import Runtime, Service, ServiceFactory
from .settings import CommonSettings
from .stored_shards import shard_count_for, stored_shard_count
from .supervision import Health

log = logging.getLogger("tidal.host")

ENTRY_POINT_GROUP = "tidal.services"
# Backend first, edge last: the frontend only accepts traffic once what it routes to is up,
# and (stopping in reverse) stops accepting before the backend goes away.
PREFERRED_ORDER = ("history", "matching", "timer", "frontend")
EMBEDDED_DATABASE_URL = "sqlite+aiosqlite:///:memory:"
STOP_TIMEOUT_S = 30.0


class HostError(RuntimeError):
    """An expected start-up failure; the message is a complete, actionable sentence."""


class UnknownServiceError(HostError):
    pass


class ServiceLoadError(HostError):
    pass


class BusUnavailableError(HostError):
    pass


class ServiceStartError(HostError):
    pass


class ProcessFailedError(HostError):
    """A supervised loop died and could not be recovered in-process: the host stopped the
    services and the process exits non-zero so that its orchestrator restarts it."""


def discover_services() -> dict[str, importlib.metadata.EntryPoint]:
    """Installed services by name (module-level so tests can substitute fake services)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def ordered(names: Sequence[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
    return sorted(dict.fromkeys(names), key=lambda n: (rank.get(n, len(rank)), n))


def load_factories(names: Sequence[str]) -> dict[str, ServiceFactory]:
    """Resolve every name before anything starts, so a typo fails fast and cleanly."""
    available = discover_services()
    unknown = [n for n in names if n not in available]
    if unknown:
        known = ", ".join(sorted(available)) or "none installed"
        raise UnknownServiceError(f"unknown service(s) {', '.join(unknown)}; available: {known}")
    factories: dict[str, ServiceFactory] = {}
    for name in names:
        ep = available[name]
        try:
            factory = ep.load()
        except Exception as exc:
            raise ServiceLoadError(
                f"service {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(factory):
            raise ServiceLoadError(f"service {name!r}: {ep.value} is not callable")
        factories[name] = factory
    return factories


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, _on_signal, sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            # Not the main thread (tests, embedding) or not supported: the caller's `stop` rules.
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("received %s, stopping", sig.name)
    stop.set()


async def _stop_all(started: list[Service], stop_timeout: float) -> None:
    cancelled: asyncio.CancelledError | None = None
    for service in reversed(started):
        log.info("stopping service", extra={"service_name": service.name})
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that comes in the turn the
            # stop finishes, and the caller is told the stop completed.
            async with asyncio.timeout(stop_timeout):
                await service.stop()
        except asyncio.CancelledError as exc:
            # Cancelled while stopping (a second Ctrl-C, an embedding's teardown): stop the rest
            # anyway, or their consumers, leases and connections leak; then honour the cancel.
            log.warning("stop cancelled", extra={"service_name": service.name})
            cancelled = exc
        except TimeoutError:
            log.error("service did not stop in %.0f s", stop_timeout, extra={"service_name": service.name})
        except Exception:
            # Keep stopping the others: one broken stop must not leak the rest's resources.
            log.exception("service failed to stop", extra={"service_name": service.name})
        else:
            log.info("service stopped", extra={"service_name": service.name})
    if cancelled is not None:
        raise cancelled


async def run_services(
    names: Sequence[str],
    *,
    runtime: Runtime,
    stop: asyncio.Event,
    started: asyncio.Event | None = None,
    stop_timeout: float = STOP_TIMEOUT_S,
) -> None:
    """Build and start the services in order, wait for `stop` (or SIGTERM/SIGINT), then stop
    them in reverse order. `started` is set once all are up. A failed start stops the ones
    already started and raises `ServiceStartError` (the cause chained)."""
    factories = load_factories(names)
    running: list[Service] = []
    with _stop_on_signals(stop):
        try:
            for name, factory in factories.items():
                log.info("starting service", extra={"service_name": name, "member": runtime.member_id})
                try:
                    service = factory(runtime)
                    await service.start()
                except Exception as exc:
                    # Traceback to the log (a bug needs it); one line for the operator.
                    log.exception("service failed to start", extra={"service_name": name})
                    raise ServiceStartError(f"service {name!r} failed to start: {exc}") from exc
                running.append(service)
                log.info("service started", extra={"service_name": name})
            if started is not None:
                started.set()
            await _wait_stop_or_failure(stop, runtime)
        finally:
            await _stop_all(running, stop_timeout)
    if runtime.health.fatal_reason is not None:
        raise ProcessFailedError(f"stopped after a fatal failure: {runtime.health.fatal_reason}")


async def _wait_stop_or_failure(stop: asyncio.Event, runtime: Runtime) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(runtime.health.failed.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def default_member_id() -> str:
    # Unique per process incarnation: a restarted pod must not inherit its old leases.
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def redact_amqp(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _make_bus(settings: CommonSettings, *, embedded: bool, member_id: str) -> Bus:
    if embedded:
        return InMemoryBus(max_message_bytes=settings.max_message_bytes)
    # The connection name shows up in RabbitMQ's management UI: which pod holds which queues.
    return AmqpBus(
        settings.amqp_connection_url(),
        connection_name=f"tidal:{member_id}",
        max_message_bytes=settings.max_message_bytes,
    )


@contextlib.asynccontextmanager
async def open_runtime(
    settings: CommonSettings,
    *,
    embedded: bool,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    health: Health | None = None,
) -> AsyncIterator[Runtime]:
    """The bus and engine for a process, connected and checked; closed on exit.

    Production: AMQP + `settings.database_url`, which must already be migrated. Embedded:
    in-memory bus + SQLite (`settings.database_url` if it is a SQLite URL, else in-memory),
    migrated automatically (an in-memory database only exists on this engine anyway).
    `overrides` become `Runtime.overrides` (per-service settings the host fixes); `health` is the
    process's (the ops server reads it), a new one when None.
    """
    db_url = settings.database_url
    if embedded and not db_url.startswith("sqlite"):
        db_url = EMBEDDED_DATABASE_URL
    engine = create_engine(
        db_url, ssl_ca_file=None if embedded else settings.database_ca_file, sqlite_on_loop=embedded
    )
    try:
        shard_count = settings.shard_count
        if embedded:
            await migrate_engine(engine)
            # A file keeps the count it was used with (`make dev` and `tidal-server dev` share
            # files): the operator's TIDAL_SHARD_COUNT only when it agrees, else a clear refusal.
            asked = settings.shard_count if "shard_count" in settings.model_fields_set else None
            shard_count = shard_count_for(
                await stored_shard_count(engine), asked, settings.shard_count, database=redact(db_url)
            )
        else:
            await check_schema_engine(engine)
        log.info("database ready", extra={"database": redact(db_url)})
        member_id = settings.member_id or default_member_id()
        bus = _make_bus(settings, embedded=embedded, member_id=member_id)
        try:
            await bus.connect()
        except Exception as exc:
            with contextlib.suppress(Exception):  # release whatever half-opened
                await bus.close()
            raise BusUnavailableError(
                f"cannot connect to RabbitMQ at {redact_amqp(settings.amqp_url)}: "
                f"{type(exc).__name__}: {exc} (check that the broker is running and reachable, "
                "the vhost exists, and the credentials in TIDAL_AMQP_URL are right)"
            ) from exc
        try:
            yield Runtime(
                bus=bus,
                engine=engine,
                member_id=member_id,
                shard_count=shard_count,
                embedded=embedded,
                overrides=dict(overrides or {}),
                health=health or Health(),
            )
        finally:
            await bus.close()
    finally:
        await engine.dispose()


def use_uvloop() -> bool:
    """Install uvloop's event loop policy when available (a faster loop; see DESIGN.md §7)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
