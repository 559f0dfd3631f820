"""The frontend's request metrics and trace spans: one pure-ASGI middleware around the API, and
the `/metrics` endpoint (listed in docs/observability.md)."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tidal_server.metrics import LATENCY_BUCKETS
from tidal_server.telemetry import SERVICE_ATTRIBUTE, tracer

REQUESTS = Counter(
    "tidal_frontend_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "code"],
)
REQUEST_SECONDS = Histogram(
    "tidal_frontend_request_duration_seconds",
    "HTTP request latency (a result long poll counts its wait), by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

COMMANDS_DEAD_LETTERED = Counter(
    "tidal_frontend_commands_dead_lettered_total",
    "Commands from the tidal.commands exchange parked in the dead-letter queue, by reason code.",
    ["reason"],
)

EAGER_STARTS = Counter(
    "tidal_frontend_eager_starts_total",
    "Starts that asked for their first workflow task in the reply (eager workflow start), by "
    "result: granted, or refused (the task went through matching).",
    ["result"],
)

_tracer = tracer("tidal.frontend")
# Not measured or traced: scrapes and probes would drown the API's own figures.
_QUIET = ("/metrics", "/healthz", "/readyz")


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _QUIET:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(propagate.extract(carrier))
        try:
            with _tracer.start_as_current_span(
                method, kind=SpanKind.SERVER, attributes={SERVICE_ATTRIBUTE: "frontend"}
            ) as span:
                try:
                    await self.app(scope, receive, send_wrapper)
                finally:
                    route = _route(scope)
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
        finally:
            otel_context.detach(token)
            route = _route(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - start)


def _route(scope: Scope) -> str:
    # The template, never the raw path: workflow ids must not become label values.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
