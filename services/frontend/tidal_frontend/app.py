"""Composition root of the frontend: the FastAPI app, the notification listener and uvicorn.

`build(runtime)` is the `tidal.services` entry point. The ASGI app is also exposed
(`FrontendService.asgi_app`) so the embedded mode, the SDK and tests can call it in-process through
`httpx.ASGITransport`, without a port. It is the FastAPI app behind the fast path of the two hot
routes (fast_path.py); `FrontendService.fastapi_app` is the FastAPI app alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from tidal_schema import names
from tidal_server.service import Runtime

from . import metrics, problems, ui
from .api.router import PREFIX, api_router, health_router
from .commands import CommandConsumer, DeadLetterHook
from .context import FrontendContext
from .fast_path import FastPath
from .http_protocol import ProblemHttpToolsProtocol
from .inprocess import InProcessCalls
from .notifications import NotificationListener
from .settings import FrontendSettings

log = logging.getLogger("tidal.frontend")


def create_app(ctx: FrontendContext) -> FastAPI:
    """The HTTP API over `ctx`. Without a started `NotificationListener` in `ctx.listener`, result
    long polls still answer correctly, but only wake at their timeout."""
    app = FastAPI(
        title="Tidal API",
        version="1",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        description="Start, signal, terminate, describe workflows, fetch results and histories. "
        "Errors are RFC 7807 problem documents with a stable `code`.",
    )
    app.state.tidal = ctx
    problems.install(app)
    problems.document_validation_as_400(app)
    app.include_router(api_router())
    app.include_router(health_router())
    app.add_route("/metrics", metrics.metrics_endpoint, include_in_schema=False)
    ui.install(app)
    # Seam for later issues: authentication wraps here, inside the limit.
    app.add_middleware(
        problems.BodyLimit,
        max_bytes=ctx.settings.max_body_bytes,
        body_seconds=ctx.settings.body_timeout_seconds,
    )
    # Outermost: measures and traces every request, rejected ones included.
    app.add_middleware(metrics.TelemetryMiddleware)
    return app


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the host process owns SIGTERM/SIGINT and stops us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FrontendService:
    name = "frontend"

    def __init__(self, runtime: Runtime, settings: FrontendSettings) -> None:
        self._runtime = runtime
        self.settings = settings
        self.context = FrontendContext(
            bus=runtime.bus,
            engine=runtime.engine,
            settings=settings,
            shard_count=runtime.shard_count,
            embedded=runtime.embedded,
            health=runtime.health,
        )
        self._fastapi = create_app(self.context)
        self.inprocess_calls = InProcessCalls(ctx=self.context, app=self._fastapi)
        """The start and result calls of a client in this process, without HTTP (inprocess.py)."""
        self._app = FastPath(
            app=self._fastapi,
            calls=self.inprocess_calls,
            max_body_bytes=settings.max_body_bytes,
            body_seconds=settings.body_timeout_seconds,
        )
        self._server: _Server | None = None
        self.on_command_dead_letter: DeadLetterHook | None = None
        """Metrics seam: called with the reason code of every dead-lettered AMQP command."""
        self.commands: CommandConsumer | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port: int | None = None
        """The port HTTP is served on once started (None when http_port is 0: in-process only)."""

    @property
    def asgi_app(self) -> FastPath:
        """What HTTP is served by: the FastAPI app behind the hot routes' fast path."""
        return self._app

    @property
    def fastapi_app(self) -> FastAPI:
        """The FastAPI app alone (every route, without the fast path)."""
        return self._fastapi

    async def start(self) -> None:
        bus = self._runtime.bus
        # Declared idempotently so a start before history does not fail on a missing exchange
        # (the request then answers 503 until history binds its shard queues).
        await bus.declare_exchange(names.HISTORY_EXCHANGE, "direct")
        listener = NotificationListener(bus, self.context.waiters, self._runtime.member_id)
        await listener.start()
        self.context.listener = listener
        if self.settings.commands_enabled:
            self.commands = CommandConsumer(self.context, on_dead_letter=self.on_command_dead_letter)
            await self.commands.start()
        if self.settings.http_port:
            await self._serve_http()

    async def _serve_http(self) -> None:
        host, port = self.settings.http_host, self.settings.http_port
        # Bind here rather than inside uvicorn: a taken port fails start() with a clear error
        # (uvicorn would sys.exit inside its task), and connections queue from this moment on.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            await self._stop_commands()
            await self._stop_listener()
            raise RuntimeError(f"frontend cannot listen on {host}:{port}: {exc}") from exc
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = self.uvicorn_config()
        self._server = _Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="frontend-http")
        self._serving.add_done_callback(self._http_ended)
        scheme = "https" if config.is_ssl else "http"
        log.info("frontend listening on %s://%s:%s%s", scheme, host, self.port, PREFIX)

    def _http_ended(self, task: asyncio.Task[None]) -> None:
        """Supervision of the HTTP server: it must run until stop(). If it ends on its own, this
        frontend can no longer answer, and restarting uvicorn in place is not reliable: the process
        exits (non-zero) so that its orchestrator restarts it."""
        if self._server is None or self._server.should_exit:
            return  # stopping
        exc = None if task.cancelled() else task.exception()
        reason = "returned" if exc is None else f"{type(exc).__name__}: {exc}"
        self._runtime.health.fail(f"the frontend's HTTP server stopped unexpectedly ({reason})")

    def uvicorn_config(self) -> uvicorn.Config:
        s = self.settings
        tls: dict[str, object] = {}
        if s.http_tls_certfile:
            tls = {"ssl_certfile": s.http_tls_certfile, "ssl_keyfile": s.http_tls_keyfile}
            if s.http_tls_ca_certs:  # mutual TLS: clients must present a certificate from this CA
                tls |= {"ssl_ca_certs": s.http_tls_ca_certs, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        return uvicorn.Config(
            self._app,
            http=ProblemHttpToolsProtocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(s.shutdown_grace_seconds),
            **tls,  # type: ignore[arg-type]
        )

    async def stop(self) -> None:
        await self._stop_commands()
        # Long polls answer now (they re-read and return) instead of holding the graceful stop.
        self.context.waiters.release_all()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            try:
                await self._serving
            except (Exception, SystemExit):
                log.exception("the HTTP server failed while stopping")
            self._server = None
            self._serving = None
        await self._stop_listener()

    async def _stop_commands(self) -> None:
        if self.commands is not None:
            await self.commands.stop()
            self.commands = None

    async def _stop_listener(self) -> None:
        if self.context.listener is not None:
            await self.context.listener.stop()
            self.context.listener = None


def build(runtime: Runtime) -> FrontendService:
    return FrontendService(runtime, FrontendSettings(**runtime.settings_overrides("frontend")))
