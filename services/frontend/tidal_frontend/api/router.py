"""The route table: every operation of the HTTP API in one place (handlers live in their modules).

Workflow ids may contain "/", so they use the `path` converter; the routes with a suffix
(/result, /history, /signal, /terminate, /cancel, /query, /update) are therefore declared before the bare
describe route, which would otherwise swallow them.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..problems import responses
from . import (
    async_activity,
    cancel_workflow,
    cluster,
    count_workflows,
    describe_task_queue,
    describe_workflow,
    get_history,
    get_result,
    list_workflows,
    query_workflow,
    signal_workflow,
    start_workflow,
    terminate_workflow,
    update_workflow,
)
from .models import RunRef

PREFIX = "/api/v1"
_WF = "/namespaces/{namespace}/workflows"
_ONE = _WF + "/{workflow_id:path}"


def api_router() -> APIRouter:
    r = APIRouter(prefix=PREFIX)
    r.add_api_route(
        _WF,
        start_workflow.start_workflow,
        methods=["POST"],
        status_code=201,
        response_model=start_workflow.StartWorkflowResponse,
        tags=["workflows"],
        summary="Start a workflow",
        responses={
            200: {"description": "UseExisting: the running run"},
            **responses("invalid_argument", "already_started", "unavailable"),
        },
    )
    r.add_api_route(
        "/namespaces/{namespace}/task-queues/{task_queue}",
        describe_task_queue.describe_task_queue,
        methods=["GET"],
        response_model=describe_task_queue.DescribeTaskQueueResponse,
        tags=["task queues"],
        summary="Backlog and pollers of a task queue",
        responses=responses("invalid_argument", "unavailable"),
    )
    # Visibility (docs/visibility.md). Counting lives at /workflow-count, as in Temporal's HTTP
    # API, since /workflows/count would be the describe route of a workflow named "count".
    r.add_api_route(
        _WF,
        list_workflows.list_workflows,
        methods=["GET"],
        response_model=list_workflows.ListWorkflowsResponse,
        tags=["visibility"],
        summary="List runs matching a filter (?query=), newest first, in keyset pages",
        responses=responses("invalid_argument", "unavailable"),
    )
    r.add_api_route(
        "/namespaces/{namespace}/workflow-count",
        count_workflows.count_workflows,
        methods=["GET"],
        response_model=count_workflows.CountWorkflowsResponse,
        tags=["visibility"],
        summary="Count runs matching a filter (?query=)",
        responses=responses("invalid_argument", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/signal",
        signal_workflow.signal_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Signal a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/terminate",
        terminate_workflow.terminate_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Terminate a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/cancel",
        cancel_workflow.cancel_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Request cancellation of a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/query",
        query_workflow.query_workflow,
        methods=["POST"],
        response_model=query_workflow.QueryWorkflowResponse,
        tags=["workflows"],
        summary="Query a workflow (answered by a worker; nothing is written to history)",
        responses=responses(
            "invalid_argument", "not_found", "query_failed", "deadline_exceeded", "unavailable"
        ),
    )
    r.add_api_route(
        _ONE + "/update",
        update_workflow.update_workflow,
        methods=["POST"],
        response_model=update_workflow.UpdateWorkflowResponse,
        tags=["workflows"],
        summary="Update a running workflow and wait for the update's stage (dedup by update_id)",
        responses=responses("invalid_argument", "not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/result",
        get_result.get_result,
        methods=["GET"],
        response_model=get_result.WorkflowResultResponse,
        tags=["workflows"],
        summary="Get a run's result (long poll with ?wait=SECONDS)",
        responses=responses("not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE + "/history",
        get_history.get_history,
        methods=["GET"],
        response_model=get_history.HistoryPage,
        tags=["workflows"],
        summary="Page through a run's history events",
        responses=responses("invalid_argument", "not_found", "unavailable"),
    )
    r.add_api_route(
        _ONE,
        describe_workflow.describe_workflow,
        methods=["GET"],
        response_model=describe_workflow.DescribeWorkflowResponse,
        tags=["workflows"],
        summary="Describe a run",
        responses=responses("not_found", "unavailable"),
    )
    _async_activity_routes(r)
    r.add_api_route(
        "/cluster",
        cluster.cluster,
        methods=["GET"],
        response_model=cluster.ClusterInfo,
        tags=["cluster"],
        summary="What SDK workers need to join the cluster",
    )
    return r


def _async_activity_routes(r: APIRouter) -> None:
    """Async activity completion (docs/activities.md)."""
    base = "/namespaces/{namespace}/activities"
    for op, fn, model, summary in (
        ("complete", async_activity.complete, async_activity.Accepted, "Complete an activity attempt"),
        ("fail", async_activity.fail, async_activity.Accepted, "Fail an activity attempt"),
        (
            "cancel",
            async_activity.report_cancellation,
            async_activity.Accepted,
            "Report an activity attempt cancelled",
        ),
        (
            "heartbeat",
            async_activity.heartbeat,
            async_activity.HeartbeatResponse,
            "Heartbeat an activity attempt (says whether cancellation was requested)",
        ),
    ):
        r.add_api_route(
            f"{base}/{op}",
            fn,
            methods=["POST"],
            response_model=model,
            tags=["activities"],
            summary=summary,
            responses=responses("invalid_argument", "not_found", "unavailable"),
        )


def health_router() -> APIRouter:
    r = APIRouter(tags=["health"])
    r.add_api_route("/healthz", cluster.healthz, methods=["GET"], response_model=cluster.Health)
    r.add_api_route(
        "/readyz",
        cluster.readyz,
        methods=["GET"],
        response_model=cluster.Health,
        responses={503: {"model": cluster.Health, "description": "not ready"}},
    )
    return r
