"""A task's span continues the trace its message carries, and what the worker publishes inside
it carries the trace on, with or without an OpenTelemetry SDK installed (docs/observability.md);
a task without trace headers starts none, so its completion carries none."""

from __future__ import annotations

import subprocess
import sys

from tidal import _telemetry as tm

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_the_trace_of_the_task_reaches_what_it_publishes() -> None:
    with tm.task_span("RunWorkflow:T", {"traceparent": PARENT.encode(), "x-other": 1}, {}):
        carried = tm.trace_headers()
    assert carried["traceparent"].split("-")[1] == TRACE_ID


def test_a_task_without_trace_headers_publishes_none() -> None:
    with tm.task_span("RunWorkflow:T", {"x-other": "1"}, {}):
        assert "traceparent" not in tm.trace_headers()


def test_with_the_api_alone_the_trace_still_passes() -> None:
    """In a fresh interpreter, where no tracer provider can have been installed by another test."""
    code = f"""
from opentelemetry import trace
from tidal import _telemetry as tm
assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
with tm.task_span("RunActivity:a", {{"traceparent": "{PARENT}"}}, {{}}):
    assert tm.trace_headers()["traceparent"].split("-")[1] == "{TRACE_ID}"
with tm.task_span("RunActivity:a", {{}}, {{}}):
    assert tm.trace_headers() == {{}}
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
