"""Start a workflow run (routed to its history shard); with `start_signal`, signal-with-start.

Reached by `POST /api/v1/namespaces/{ns}/workflows` and by the `start` and `signal-with-start`
AMQP commands."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from tidal_schema import Payload, Priority, RetryPolicy, WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from tidal_schema.limits import STORE_SAFE_PATTERN, Id, JsonValue, Name, TaskQueueName, Text
from tidal_schema.messages import (
    SignalWithStartWorkflowExecution,
    StartWorkflowExecution,
    StartWorkflowReply,
    WorkflowTask,
)
from tidal_schema.schedule_times import ScheduleSpecError, check_spec
from tidal_server.apikeys import Role
from tidal_server.visibility import invalid_search_attributes

from ..context import FrontendContext
from ..metrics import EAGER_STARTS
from ..problems import Problem
from . import _history
from .models import WithInput, WorkflowResultResponse
from .policy import Admitted, Policy

__all__ = ["POLICY", "StartSignal", "StartWorkflowRequest", "StartWorkflowResponse", "start_workflow"]

POLICY = Policy(role=Role.WRITER, starts_runs=True)

Seconds = float | None
# Durations beyond this overflow datetime arithmetic (found by schemathesis): a 400, not a 500.
MAX_SECONDS = 100 * 365 * 86400


class StartSignal(WithInput):
    """Signal-with-start: the signal delivered together with the start."""

    name: Name


class StartWorkflowRequest(WithInput):
    workflow_id: Id
    workflow_type: Name
    task_queue: TaskQueueName
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=STORE_SAFE_PATTERN,
        description="idempotency key: a retry with the same request_id returns the same run "
        "(generated when absent, and echoed in the response)",
    )
    workflow_execution_timeout: Seconds = Field(default=None, gt=0, le=MAX_SECONDS, description="seconds")
    workflow_run_timeout: Seconds = Field(default=None, gt=0, le=MAX_SECONDS, description="seconds")
    workflow_task_timeout: Seconds = Field(
        default=None, gt=0, le=MAX_SECONDS, description="seconds (default 10)"
    )
    id_reuse_policy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: WorkflowIdConflictPolicy = WorkflowIdConflictPolicy.FAIL
    retry_policy: RetryPolicy | None = Field(
        default=None, description="intervals in seconds (or ISO 8601 durations)"
    )
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    start_delay: Seconds = Field(default=None, gt=0, le=MAX_SECONDS, description="seconds")
    cron_schedule: Text | None = Field(
        default=None,
        max_length=1000,
        description="Temporal's cron schedule (a cron string or @every): the first run waits for the "
        "first cron time, each close (completed, failed, timed out) starts the next run",
    )
    identity: Text = Field(default="", max_length=1000)
    static_summary: Text | None = Field(
        default=None, max_length=10_000, description="a one-line summary shown by describe (user metadata)"
    )
    static_details: Text | None = Field(
        default=None, max_length=10_000, description="longer details shown by describe (user metadata)"
    )
    priority: Priority | None = Field(
        default=None,
        description="Temporal's task priority: a task queue's backlog goes out by priority_key, 1 first",
    )
    header: dict[Name, Payload] = Field(
        default_factory=dict,
        description="Temporal's start header (what client interceptors add): recorded in "
        "WorkflowExecutionStarted and given to the workflow as `workflow.info().headers`",
    )
    request_eager_execution: bool = Field(
        default=False,
        description="Temporal's eager workflow start: the caller runs a worker on task_queue with a "
        "free workflow task slot reserved. History may then return the run's first workflow task in "
        "`eager_workflow_task` (already counting as started: the caller must run it, or its "
        "workflow_task_timeout hands it out again). Ignored with start_signal and in update-with-start.",
    )
    start_signal: StartSignal | None = Field(
        default=None,
        description="signal-with-start: if the workflow is running, only signal it (200); otherwise "
        "start it (per id_reuse_policy) with this signal recorded before its first workflow task "
        "(201). id_conflict_policy does not apply.",
    )
    wait_for_result: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        # A number only: lax parsing read `true` as a one-second wait and "5" as five.
        strict=True,
        description="seconds: after the start, wait up to this long (capped like the result long "
        "poll's `wait`) for the run to close and answer its result in `result`, as "
        "GET .../result?run_id=&wait= would (`status` Running when the wait ran out: poll the "
        "result). The start itself is the same with or without it. Not with a granted eager start "
        "(answered at once, without `result`); ignored in update-with-start.",
    )


class StartWorkflowResponse(BaseModel):
    workflow_id: str
    run_id: str
    started: bool = Field(description="false when id_conflict_policy=UseExisting returned the running run")
    request_id: str
    eager_workflow_task: WorkflowTask | None = Field(
        default=None,
        description="the first workflow task, when request_eager_execution was granted: for the "
        "caller's own worker, which completes it as one it consumed from the task queue",
    )
    result: WorkflowResultResponse | None = Field(
        default=None, description="with wait_for_result: the run's result, as the result long poll answers it"
    )


def cron_problem(cron: str) -> str | None:
    """Why `cron` is not a cron schedule the spec engine accepts, naming it; None if it is."""
    try:
        check_spec({"cron_expressions": [cron]})
    except ScheduleSpecError as exc:
        return f"cron_schedule {cron!r}: {exc}"
    return None


def _td(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


async def start_workflow(
    ctx: FrontendContext, admitted: Admitted, body: StartWorkflowRequest
) -> StartWorkflowResponse:
    """`started` is False when `id_conflict_policy=UseExisting` (or a signal-with-start of a running
    run) handed back the running run."""
    namespace = admitted.namespace_for(POLICY)
    request_id = body.request_id or str(uuid.uuid4())
    message: StartWorkflowExecution | SignalWithStartWorkflowExecution
    message = start_message(namespace, body, request_id)
    if body.request_eager_execution and body.start_signal is None:
        message = message.model_copy(update={"request_eager_execution": True})
    if body.start_signal is not None:
        message = SignalWithStartWorkflowExecution(
            **message.start_options(),
            signal_name=body.start_signal.name,
            signal_input=body.start_signal.payloads(),
        )
    # The first result poll of a run started here can then wait for its close without reading
    # the run first (api/get_result.py), when this process hears closes at all.
    listening = ctx.listener is not None and ctx.listener.running
    with ctx.waiters.starting(namespace, body.workflow_id) as started:
        reply = await _history.send(ctx, message, retry_hint=f"retry with the same request_id ({request_id})")
        assert isinstance(reply, StartWorkflowReply), f"history answered a start with {type(reply).__name__}"
        if listening:
            started(reply.run_id)
    if isinstance(message, StartWorkflowExecution) and message.request_eager_execution:
        EAGER_STARTS.labels("granted" if reply.eager_workflow_task is not None else "refused").inc()
    return StartWorkflowResponse(
        workflow_id=body.workflow_id,
        run_id=reply.run_id,
        started=reply.started,
        request_id=request_id,
        eager_workflow_task=reply.eager_workflow_task,
    )


def start_message(namespace: str, body: StartWorkflowRequest, request_id: str) -> StartWorkflowExecution:
    """The history message of a validated start request (shared with update-with-start)."""
    bad_attributes = invalid_search_attributes(body.search_attributes, allow_none=False)
    if bad_attributes is not None:
        raise Problem("invalid_argument", f"search_attributes: {bad_attributes}")
    if body.cron_schedule:
        if body.start_delay:
            raise Problem("invalid_argument", "cron_schedule and start_delay cannot be used together")
        problem = cron_problem(body.cron_schedule)
        if problem is not None:
            raise Problem("invalid_argument", problem)
    extra: dict[str, Any] = {}
    if body.workflow_task_timeout is not None:  # else the schema's default applies
        extra["workflow_task_timeout"] = timedelta(seconds=body.workflow_task_timeout)
    return StartWorkflowExecution(
        namespace=namespace,
        workflow_id=body.workflow_id,
        workflow_type=body.workflow_type,
        task_queue=body.task_queue,
        input=body.payloads(),
        request_id=request_id,
        workflow_execution_timeout=_td(body.workflow_execution_timeout),
        workflow_run_timeout=_td(body.workflow_run_timeout),
        id_reuse_policy=body.id_reuse_policy,
        id_conflict_policy=body.id_conflict_policy,
        retry_policy=body.retry_policy,
        memo=body.memo,
        search_attributes=body.search_attributes,
        start_delay=_td(body.start_delay),
        cron_schedule=body.cron_schedule or None,
        identity=body.identity,
        static_summary=body.static_summary,
        static_details=body.static_details,
        priority=body.priority,
        header=body.header,
        **extra,
    )
