"""One workflow, one trace: the trace context travels HTTP -> frontend -> history (through its
outbox) -> matching or straight to the worker -> worker -> activity -> completion -> history, on
the embedded server with an in-process SDK worker, and every hop records a span in it."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

from tests.support.workflows import GreetingWorkflow, greet

TASK_QUEUE = "obs-tracing"


async def test_one_trace_across_frontend_history_matching_worker_activity(
    exporter: InMemorySpanExporter,
) -> None:
    workflow_id = f"traced-{uuid.uuid4().hex[:8]}"
    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(
            env.client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow], activities=[greet]
        ):
            handle = await env.client.start_workflow(
                GreetingWorkflow.run, "traces", id=workflow_id, task_queue=TASK_QUEUE
            )
            assert await handle.result() == "Hello, traces!"

    spans = [s for s in exporter.get_finished_spans() if _mentions(s, workflow_id)]
    starts = [s for s in spans if s.name == "history StartWorkflowExecution"]
    assert len(starts) == 1, [s.name for s in spans]
    trace_id = starts[0].context.trace_id
    in_trace = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
    names = [s.name for s in in_trace]
    services = {str(s.attributes.get("tidal.service")) for s in in_trace if s.attributes}

    assert services >= {"frontend", "history", "matching", "worker"}, names
    assert "POST /api/v1/namespaces/{namespace}/workflows" in names
    assert "RunWorkflow:GreetingWorkflow" in names
    assert "RunActivity:greet" in names
    # The whole life of the run: start, first workflow task, then the activity's result with the
    # workflow task that completes the run riding on it (the fused completion, docs/performance.md):
    # one CompleteActivityTask carries the second task's completion, and the worker ran both tasks.
    assert names.count("history CompleteWorkflowTask") == 1, names
    assert names.count("history CompleteActivityTask") == 1, names
    assert names.count("RunWorkflow:GreetingWorkflow") == 2, names
    # Matching sees the first workflow task only: the activity is eager (handed straight back to
    # the worker that scheduled it) and the second task goes to the worker's sticky queue; the
    # trace context travels those direct paths too (the worker spans above are in this trace).
    assert names.count("matching AddWorkflowTask") == 1, names
    assert "matching AddActivityTask" not in names
    # One span per hop: no message handled twice under the same trace by two layers.
    assert len(names) == len(set(s.context.span_id for s in in_trace))
    # Every span but the root has its parent inside the same trace.
    ids = {s.context.span_id for s in in_trace}
    roots = [s for s in in_trace if s.parent is None or s.parent.span_id not in ids]
    assert [r.name for r in roots] == ["POST /api/v1/namespaces/{namespace}/workflows"]


def _mentions(span: object, workflow_id: str) -> bool:
    attributes = getattr(span, "attributes", None) or {}
    return attributes.get("tidal.workflow_id") == workflow_id


async def test_the_callers_trace_continues_into_the_server(exporter: InMemorySpanExporter) -> None:
    """The SDK client sends the current trace context (traceparent) with its HTTP calls."""
    from opentelemetry import trace

    workflow_id = f"caller-{uuid.uuid4().hex[:8]}"
    async with await WorkflowEnvironment.start_local() as env:
        with trace.get_tracer("tests").start_as_current_span("checkout") as caller:
            await env.client.start_workflow(
                GreetingWorkflow.run, "caller", id=workflow_id, task_queue=f"{TASK_QUEUE}-none"
            )
    starts = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "history StartWorkflowExecution" and _mentions(s, workflow_id)
    ]
    assert len(starts) == 1
    assert starts[0].context.trace_id == caller.get_span_context().trace_id
