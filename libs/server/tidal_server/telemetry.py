"""Tracing: W3C trace context carried in message headers, spans where the work happens.

Propagation always works (the OpenTelemetry API passes a remote parent through even without an
SDK), so a trace stays whole across processes that export and processes that do not. Exporting is
off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; then
`configure_tracing` installs a batching OTLP/HTTP exporter configured by the standard OTel
environment variables.

Spans are started by the code that does the work (the frontend's HTTP middleware, history per
applied message, matching per dispatched task, the SDK worker per task), never by the bus itself:
history consumes into an inbox and works in batches, so a bus-level span would be a second,
empty span per message.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

log = logging.getLogger("tidal.telemetry")

TRACEPARENT = "traceparent"
SERVICE_ATTRIBUTE = "tidal.service"
"""Every Tidal span names the service that made it: the embedded mode runs them all in one process
under one resource."""

_configured = False
_EMPTY = otel_context.Context()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service_name: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Install an SDK tracer provider exporting over OTLP/HTTP when the OTel endpoint is set.
    Returns whether tracing is on. Idempotent; a provider installed by the application wins."""
    global _configured
    if _configured or not tracing_enabled(environ):
        return _configured
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    env = os.environ if environ is None else environ
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or f"tidal-{service_name}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("tracing on: exporting spans over OTLP", extra={"otel_service": resource.attributes})
    return True


def shutdown_tracing() -> None:
    provider: Any = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        with contextlib.suppress(Exception):
            shutdown()


def inject(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """`headers` plus the current trace context (unchanged when there is none or it is already
    there: a relayed message keeps the context it was committed with)."""
    if TRACEPARENT in headers:
        return headers
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return headers
    return {**headers, **carrier}


def current_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def remote_context(headers: Mapping[str, Any]) -> Iterator[None]:
    """Make the trace context of a received message current (no span). Without one, an empty
    context: the in-memory bus runs handlers in tasks that inherit the publisher's context, and a
    message must not join a trace its headers do not name."""
    if TRACEPARENT in headers:
        ctx = propagate.extract(_str_headers(headers))
    elif trace.get_current_span() is trace.INVALID_SPAN:
        yield  # nothing to hide (the common case; attach/detach cost more than this check)
        return
    else:
        ctx = _EMPTY
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def extract(headers: Mapping[str, Any]) -> otel_context.Context | None:
    if TRACEPARENT not in headers:
        return None
    return propagate.extract(_str_headers(headers))


def _str_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    # AMQP header values may arrive as bytes.
    out: dict[str, str] = {}
    for k, v in headers.items():
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, str):
            out[k] = v
    return out


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines; None outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
