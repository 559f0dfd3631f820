"""The ops HTTP server's routes, and trace ids in JSON log lines."""

from __future__ import annotations

import io
import json
import logging

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tidal_server.logging import JsonFormatter
from tidal_server.ops_http import OpsServer

from tests.observability import tools


async def test_ops_server_routes() -> None:
    ready = False
    server = OpsServer(host="127.0.0.1", port=0, ready=lambda: ready)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).status_code == 200
            assert (await http.get(f"{base}/readyz")).status_code == 503
            ready = True
            assert (await http.get(f"{base}/readyz")).status_code == 200
            metrics = await http.get(f"{base}/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "process_cpu_seconds_total" in tools.exposed_names(metrics.text)
            assert (await http.get(f"{base}/nope")).status_code == 404
            assert (await http.post(f"{base}/metrics")).status_code == 405
    finally:
        await server.stop()


def test_json_log_lines_carry_the_trace_id(exporter: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="history"))
    log = logging.getLogger("tidal.test.obs")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("outside")
        with trace.get_tracer("test").start_as_current_span("work") as span:
            log.warning("inside", extra={"shard": 3, "workflow_id": "w-1"})
            expected = format(span.get_span_context().trace_id, "032x")
    finally:
        log.removeHandler(handler)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "trace_id" not in outside
    assert inside["trace_id"] == expected
    assert inside["service"] == "history"
    assert (inside["shard"], inside["workflow_id"]) == (3, "w-1")
