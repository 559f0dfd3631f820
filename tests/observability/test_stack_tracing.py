"""One trace across the real stack: the services (separate processes) export over OTLP/HTTP to a
small receiver in this test, the in-process SDK worker records into an in-memory exporter, and a
workflow's spans from frontend, history, matching, worker and activity share one trace id."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tidal.client import Client
from tidal.worker import Worker

from tests.support.stack import SERVICES, Stack, wait_for
from tests.support.workflows import GreetingWorkflow, greet

TASK_QUEUE = "obs-stack-tracing"


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: int
    name: str
    service: str
    workflow_id: str | None


class _Receiver(BaseHTTPRequestHandler):
    spans: list[ReceivedSpan]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {a.key: a.value.string_value for a in span.attributes}
                    self.spans.append(
                        ReceivedSpan(
                            trace_id=int.from_bytes(span.trace_id, "big"),
                            name=span.name,
                            service=attrs.get("tidal.service", ""),
                            workflow_id=attrs.get("tidal.workflow_id"),
                        )
                    )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[ReceivedSpan]]]:
    spans: list[ReceivedSpan] = []
    handler = type("Receiver", (_Receiver,), {"spans": spans})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", spans
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


async def test_one_trace_across_the_real_stack(
    stack: Stack,
    otlp_receiver: tuple[str, list[ReceivedSpan]],
    exporter: InMemorySpanExporter,
) -> None:
    endpoint, received = otlp_receiver
    for name in SERVICES:
        # Export every 100 ms instead of every 5 s, so the test waits less.
        stack.start(name, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
    await stack.wait_ready()
    workflow_id = f"stack-traced-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(stack.address)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow], activities=[greet]):
            handle = await client.start_workflow(
                GreetingWorkflow.run, "stack", id=workflow_id, task_queue=TASK_QUEUE
            )
            assert await handle.result() == "Hello, stack!"
    finally:
        await client.close()

    def start_span() -> ReceivedSpan | None:
        found = [
            s
            for s in list(received)
            if s.workflow_id == workflow_id and s.name == "history StartWorkflowExecution"
        ]
        return found[0] if found else None

    await wait_for(lambda: start_span() is not None, timeout=60, what="history's start span over OTLP")
    start = start_span()
    assert start is not None
    trace_id = start.trace_id

    def names() -> list[str]:
        return [s.name for s in list(received) if s.trace_id == trace_id]

    # Each process exports on its own schedule: wait until every expected span was exported (the
    # workflow closes with history's CompleteActivityTask: the worker fused the closing workflow
    # task's completion into the activity's result, docs/performance.md), then check the rest.
    # Matching sees only the first workflow task: the activity is eager (history hands it straight
    # to the worker that scheduled it) and the second workflow task is run by the worker itself.
    expected = {
        "POST /api/v1/namespaces/{namespace}/workflows",
        "matching AddWorkflowTask",
        "history CompleteActivityTask",
    }
    await wait_for(
        lambda: names().count("history CompleteWorkflowTask") == 1 and expected <= set(names()),
        timeout=60,
        what="every server span",
    )
    server_side = [s for s in list(received) if s.trace_id == trace_id]
    worker_side = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
    services = {s.service for s in server_side} | {
        str(s.attributes.get("tidal.service")) for s in worker_side if s.attributes
    }
    assert services >= {"frontend", "history", "matching", "worker"}, (names(), worker_side)
    assert "POST /api/v1/namespaces/{namespace}/workflows" in names()
    assert "matching AddWorkflowTask" in names()
    assert names().count("history CompleteActivityTask") == 1, names()
    assert names().count("history CompleteWorkflowTask") == 1, names()
    worker_names = [s.name for s in worker_side]
    assert "RunWorkflow:GreetingWorkflow" in worker_names
    assert "RunActivity:greet" in worker_names
