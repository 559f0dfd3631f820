"""`tidal-server`: migrate the database, run services, or run everything embedded for development.

Expected failures (database or broker unreachable, schema not migrated, unknown service) end
with one actionable line on stderr and a non-zero exit status, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .gc_freeze import freeze_startup_heap
from .logging import configure_logging

# The heavy imports (SQLAlchemy, Alembic, aio-pika: ~2 s on a small box) happen inside the
# commands, so `--help` and usage errors answer at once.
if TYPE_CHECKING:
    from .service import Runtime
    from .settings import CommonSettings
    from .supervision import Health

log = logging.getLogger("tidal.cli")

DEFAULT_DEV_DB = "~/.tidal/dev.sqlite3"
DEFAULT_HTTP_PORT = 7243
SAMPLE_MODULE = "tidal_server.sample"


def _expected_error(exc: BaseException) -> bool:
    from .db import DatabaseUnavailableError, SchemaNotMigratedError
    from .host import HostError

    return isinstance(exc, HostError | DatabaseUnavailableError | SchemaNotMigratedError)


def sqlite_url(db: str) -> str:
    if db in (":memory:", ""):
        return "sqlite+aiosqlite:///:memory:"
    return f"sqlite+aiosqlite:///{Path(db).expanduser().resolve()}"


# --------------------------------------------------------------------------- commands


def _cmd_migrate(args: argparse.Namespace) -> int:
    from .db import migrate, redact

    settings = _settings(database_url=args.database_url) if args.database_url else _settings()
    configure_logging(settings.log_level, service="migrate", json=args.log_format == "json")
    asyncio.run(migrate(settings.database_url))
    print(f"database {redact(settings.database_url)} is at the latest schema")
    return 0


def _cmd_api_key_create(args: argparse.Namespace) -> int:
    from .apikeys import Role

    settings = _settings(database_url=args.database_url) if args.database_url else _settings()
    configure_logging(settings.log_level, service="api-key", json=args.log_format == "json")
    info, key = asyncio.run(
        _create_api_key(settings.database_url, args.namespace, Role(args.role), args.description)
    )
    if args.output == "json":
        import json

        body = {"key_id": info.key_id, "namespace": info.namespace, "role": info.role.value, "key": key}
        print(json.dumps(body))
    else:
        print(f"Created {info.role.value} key {info.key_id} for namespace {info.namespace!r}.")
        print("The key is shown only this once; store it now:")
        print(key)
    return 0


async def _create_api_key(url: str, namespace: str, role: Any, description: str) -> tuple[Any, str]:
    import sqlalchemy as sa

    from .apikeys import ALL_NAMESPACES, create_key
    from .db import check_schema_engine, create_engine
    from .db import namespaces as ns_table
    from .host import HostError

    engine = create_engine(url)
    try:
        await check_schema_engine(engine)
        if namespace != ALL_NAMESPACES:
            async with engine.connect() as conn:
                found = (
                    await conn.execute(sa.select(ns_table.c.name).where(ns_table.c.name == namespace))
                ).first()
            if found is None:
                raise HostError(f"namespace {namespace!r} does not exist (use '*' for every namespace)")
        return await create_key(engine, namespace=namespace, role=role, description=description)
    finally:
        await engine.dispose()


def _cmd_services(args: argparse.Namespace) -> int:
    from . import host

    found = host.discover_services()
    if not found:
        print("no services installed (packages declare them in the 'tidal.services' entry-point group)")
        return 1
    for name in host.ordered(list(found)):
        ep = found[name]
        dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
        print(f"{name:<10} {ep.value}{dist}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from . import host

    settings = _settings()
    names = host.ordered(args.services)
    configure_logging(settings.log_level, service="+".join(names), json=args.log_format == "json")
    host.load_factories(names)  # fail on a typo before connecting to anything
    host.use_uvloop()
    asyncio.run(_serve(names, settings, embedded=False))
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from . import host
    from .db import redact

    url = sqlite_url(args.db)
    settings = _settings(database_url=url)
    configure_logging(settings.log_level, service="dev", json=args.log_format == "json")
    names = host.ordered(list(host.discover_services()))
    if not names:
        raise host.UnknownServiceError("no services installed; run `uv sync` in the Tidal workspace")
    host.load_factories(names)
    host.use_uvloop()
    sample = _load_sample() if args.with_sample else None
    print(f"Tidal dev server: services {', '.join(names)}; database {redact(url)}")
    print(f"HTTP API: http://127.0.0.1:{args.http_port}  (Ctrl-C to stop)")
    if args.with_sample and sample is None:
        print(f"--with-sample: no sample available ({SAMPLE_MODULE} is not installed).")
    if sample is None:
        print(
            "The dev server's bus is in memory, so workers must run in this process: "
            "`make dev` (examples/dev.py) runs the engine together with a worker."
        )
    overrides = {"frontend": {"http_port": args.http_port}}
    asyncio.run(_serve(names, settings, embedded=True, sample=sample, overrides=overrides))
    return 0


# --------------------------------------------------------------------------- plumbing


def _settings(**overrides: Any) -> CommonSettings:
    from .settings import CommonSettings

    return CommonSettings(**overrides)


SampleFn = Callable[["Runtime"], Awaitable[Any]]


def _load_sample() -> SampleFn | None:
    # Optional module (written separately): look for it rather than import blindly, so a real
    # ImportError *inside* it is reported instead of being mistaken for "not installed".
    if importlib.util.find_spec(SAMPLE_MODULE) is None:
        return None
    module = importlib.import_module(SAMPLE_MODULE)
    fn: SampleFn = module.run_sample
    return fn


async def _serve(
    names: Sequence[str],
    settings: CommonSettings,
    *,
    embedded: bool,
    sample: SampleFn | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    from .ops_http import OpsServer
    from .supervision import Health
    from .telemetry import configure_tracing, shutdown_tracing

    stop = asyncio.Event()
    started = asyncio.Event()
    health = Health()
    configure_tracing("+".join(names))
    # /healthz answers from now on (the process is alive); /readyz once every service started
    # (connected to broker and database, shard membership running) and while no supervised loop
    # is down.
    ops: OpsServer | None = None
    if settings.metrics_port is not None:
        ops = OpsServer(
            host=settings.metrics_host,
            port=settings.metrics_port,
            ready=lambda: started.is_set() and health.ready(),
            problems=health.problems,
        )
        await ops.start()
    try:
        await _serve_runtime(names, settings, embedded, sample, overrides, stop, started, health)
    finally:
        if ops is not None:
            await ops.stop()
        shutdown_tracing()


async def _serve_runtime(
    names: Sequence[str],
    settings: CommonSettings,
    embedded: bool,
    sample: SampleFn | None,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    stop: asyncio.Event,
    started: asyncio.Event,
    health: Health,
) -> None:
    from . import host

    async with host.open_runtime(settings, embedded=embedded, overrides=overrides, health=health) as runtime:
        runner = asyncio.create_task(host.run_services(names, runtime=runtime, stop=stop, started=started))
        # Every process, `dev` and the stack's `run` alike: a full collection otherwise walks the
        # ~185,000 startup objects again and again (docs/performance.md, "The collector, and the
        # line for the one connection" and "History's own CPU per message").
        freezer = asyncio.create_task(_freeze_once_started(started))
        sample_task: asyncio.Task[Any] | None = None
        if sample is not None:
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if started.is_set():
                sample_task = asyncio.create_task(_run_sample(sample, runtime))
        try:
            await runner
        finally:
            freezer.cancel()
            if sample_task is not None:
                sample_task.cancel()


async def _freeze_once_started(started: asyncio.Event) -> None:
    """Keep the garbage collector off what the started services hold (gc_freeze.py)."""
    await started.wait()
    freeze_startup_heap()


async def _run_sample(sample: SampleFn, runtime: Runtime) -> None:
    try:
        await sample(runtime)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The sample is a demo: its failure is worth a traceback but not the server.
        log.exception("sample failed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal-server",
        description="Run Tidal's server: migrate the database, run services, or run everything "
        "embedded (in-memory bus + SQLite) for development. Settings come from TIDAL_* "
        "environment variables (TIDAL_DATABASE_URL, TIDAL_AMQP_URL, TIDAL_SHARD_COUNT, "
        "TIDAL_LOG_LEVEL, TIDAL_MEMBER_ID, ...).",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default=None,
        help="log line format (default: json for run/migrate, text for dev)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="create or upgrade the database schema (idempotent)")
    p.add_argument(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user:pw@host:5432/tidal or "
        "sqlite+aiosqlite:///path.sqlite3 (default: TIDAL_DATABASE_URL)",
    )
    p.set_defaults(func=_cmd_migrate, default_format="json")

    p = sub.add_parser(
        "run",
        help="run services against RabbitMQ + Postgres (the schema must be migrated)",
        description="Run one or more services in this process, e.g. `tidal-server run history`. "
        "Uses TIDAL_AMQP_URL and TIDAL_DATABASE_URL; run `tidal-server migrate` first.",
    )
    p.add_argument(
        "services", nargs="+", metavar="SERVICE", help="service name (see `tidal-server services`)"
    )
    p.set_defaults(func=_cmd_run, default_format="json")

    p = sub.add_parser(
        "dev",
        help="run every service in one process with an in-memory bus and SQLite",
        description="Embedded development server: no RabbitMQ or Postgres needed. The schema is "
        "migrated automatically.",
    )
    p.add_argument(
        "--db", default=DEFAULT_DEV_DB, help=f"SQLite file, or :memory: (default: {DEFAULT_DEV_DB})"
    )
    p.add_argument(
        "--http-port", type=int, default=DEFAULT_HTTP_PORT, help="frontend HTTP port (default: %(default)s)"
    )
    p.add_argument(
        "--with-sample",
        action="store_true",
        help="also run tidal_server.sample.run_sample(runtime) in this process, if that module is installed",
    )
    p.set_defaults(func=_cmd_dev, default_format="text")

    p = sub.add_parser(
        "api-key",
        help="manage HTTP API keys directly in the database (bootstrap the first admin key)",
    )
    keys = p.add_subparsers(dest="api_key_command", required=True, metavar="ACTION")
    p = keys.add_parser(
        "create",
        help="create a key and print it once",
        description="Create an API key (stored as a sha256 hash) and print it once. "
        "E.g. `tidal-server api-key create --namespace '*' --role admin`.",
    )
    p.add_argument("--namespace", required=True, help="a namespace name, or '*' for every namespace")
    p.add_argument("--role", required=True, choices=("reader", "writer", "admin"))
    p.add_argument("--description", default="", help="free text, e.g. who holds the key")
    p.add_argument("--database-url", help="SQLAlchemy URL (default: TIDAL_DATABASE_URL)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_api_key_create, default_format="text")

    p = sub.add_parser("services", help="list the installed services")
    p.set_defaults(func=_cmd_services, default_format="text")

    from .visibility_cli import add_parser as add_search_attribute_parser

    add_search_attribute_parser(sub, "SQLAlchemy URL (default: TIDAL_DATABASE_URL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_format is None:
        args.log_format = args.default_format
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            # Bad TIDAL_* settings: name the variable, skip pydantic's multi-line report.
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            print(
                f"tidal-server: error: invalid setting TIDAL_{name.upper()}: {first['msg']}", file=sys.stderr
            )
            return 2
        if not _expected_error(exc):
            raise
        print(f"tidal-server: error: {exc}", file=sys.stderr)
        return 1


def program(argv: Sequence[str] | None = None) -> NoReturn:
    """The process entry point (the `tidal-server` script and `python -m tidal_server.cli`).

    Runs `main`, then leaves without the interpreter's finalisation: by then the services have
    stopped, their connections are closed and tracing is flushed, and the final garbage
    collection of a service's heap (SQLAlchemy, pydantic, aio-pika, OpenTelemetry) took 4-6 s
    after every SIGTERM on a loaded 2-core box, paid by every restart and every test stack.
    Logging and stdio are flushed first; an exception still unwinds (and prints) as usual.
    """
    code = main(argv)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    program()
