"""The route table: every operation of the HTTP API in one place (handlers live in their modules).

Workflow ids may contain "/", so they use the `path` converter; the routes with a suffix
(/result, /history, /signal, /terminate, /cancel, /query, /update) are therefore declared before the bare
describe route, which would otherwise swallow them.
"""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Response
from tidal_server.apikeys import Role

from ..auth import require, worker
from ..problems import responses
from . import (
    api_keys,
    async_activity,
    cancel_workflow,
    cluster,
    count_workflows,
    describe_task_queue,
    describe_workflow,
    get_history,
    get_result,
    list_task_queues,
    list_workflows,
    namespaces,
    query_workflow,
    schedules,
    signal_workflow,
    start_workflow,
    terminate_workflow,
    update_with_start,
    update_workflow,
    whoami,
)
from .models import RunRef

PREFIX = "/api/v1"
_WF = "/namespaces/{namespace}/workflows"
_ONE = _WF + "/{workflow_id:path}"
# Every /api/v1 route checks the caller's key (a no-op while auth is off) and, under a namespace,
# that the namespace exists (operations.policy.admit, through the operation or `require`); errors
# every such route can answer:
_AUTH_ERRORS = ("unauthenticated", "forbidden", "namespace_not_found")
_READ = [Depends(require(Role.READER))]
_WRITE = [Depends(require(Role.WRITER))]


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
            **responses(
                "invalid_argument",
                "already_started",
                "namespace_deprecated",
                "rate_limited",
                "unavailable",
                *_AUTH_ERRORS,
            ),
        },
    )
    r.add_api_route(
        "/namespaces/{namespace}/update-with-start",
        update_with_start.update_with_start,
        methods=["POST"],
        status_code=201,
        response_model=update_with_start.UpdateWithStartResponse,
        tags=["workflows"],
        summary="Start a workflow and update it in one transaction (or update the running run "
        "with id_conflict_policy UseExisting), then wait for the update's stage",
        responses={
            200: {"description": "UseExisting: the update went to the running run"},
            **responses(
                "invalid_argument",
                "already_started",
                "namespace_deprecated",
                "rate_limited",
                "resource_exhausted",
                "not_found",
                "unavailable",
                *_AUTH_ERRORS,
            ),
        },
    )
    r.add_api_route(
        "/namespaces/{namespace}/task-queues",
        list_task_queues.list_task_queues,
        methods=["GET"],
        response_model=list_task_queues.ListTaskQueuesResponse,
        tags=["task queues"],
        summary="The task queues of the namespace's runs, with pollers and backlog (by name)",
        responses=responses("invalid_argument", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    r.add_api_route(
        "/namespaces/{namespace}/task-queues/{task_queue}",
        describe_task_queue.describe_task_queue,
        methods=["GET"],
        response_model=describe_task_queue.DescribeTaskQueueResponse,
        tags=["task queues"],
        summary="Backlog and pollers of a task queue",
        responses=responses("invalid_argument", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
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
        responses=responses("invalid_argument", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    r.add_api_route(
        "/namespaces/{namespace}/workflow-count",
        count_workflows.count_workflows,
        methods=["GET"],
        response_model=count_workflows.CountWorkflowsResponse,
        response_model_exclude_none=True,  # `groups` only with GROUP BY
        tags=["visibility"],
        summary="Count runs matching a filter (?query=)",
        responses=responses("invalid_argument", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    r.add_api_route(
        _ONE + "/signal",
        signal_workflow.signal_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Signal a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable", *_AUTH_ERRORS),
    )
    r.add_api_route(
        _ONE + "/terminate",
        terminate_workflow.terminate_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Terminate a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable", *_AUTH_ERRORS),
    )
    r.add_api_route(
        _ONE + "/cancel",
        cancel_workflow.cancel_workflow,
        methods=["POST"],
        status_code=202,
        response_model=RunRef,
        tags=["workflows"],
        summary="Request cancellation of a running workflow",
        responses=responses("invalid_argument", "not_found", "unavailable", *_AUTH_ERRORS),
    )
    r.add_api_route(
        _ONE + "/query",
        query_workflow.query_workflow,
        methods=["POST"],
        response_model=query_workflow.QueryWorkflowResponse,
        tags=["workflows"],
        summary="Query a workflow (answered by a worker; nothing is written to history)",
        responses=responses(
            "invalid_argument",
            "not_found",
            "query_failed",
            "query_rejected",
            "deadline_exceeded",
            "unavailable",
            *_AUTH_ERRORS,
        ),
    )
    r.add_api_route(
        _ONE + "/update",
        update_workflow.update_workflow,
        methods=["POST"],
        response_model=update_workflow.UpdateWorkflowResponse,
        tags=["workflows"],
        summary="Update a running workflow and wait for the update's stage (dedup by update_id)",
        responses=responses(
            "invalid_argument", "not_found", "resource_exhausted", "unavailable", *_AUTH_ERRORS
        ),
    )
    r.add_api_route(
        _ONE + "/result",
        get_result.get_result,
        methods=["GET"],
        response_model=get_result.WorkflowResultResponse,
        tags=["workflows"],
        summary="Get a run's result (long poll with ?wait=SECONDS)",
        responses=responses("not_found", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    r.add_api_route(
        _ONE + "/history",
        get_history.get_history,
        methods=["GET"],
        response_model=get_history.HistoryPage,
        tags=["workflows"],
        summary="Page through a run's history events",
        responses=responses("invalid_argument", "not_found", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    r.add_api_route(
        _ONE,
        describe_workflow.describe_workflow,
        methods=["GET"],
        response_model=describe_workflow.DescribeWorkflowResponse,
        tags=["workflows"],
        summary="Describe a run",
        responses=responses("not_found", "unavailable", *_AUTH_ERRORS),
        dependencies=_READ,
    )
    _async_activity_routes(r)
    r.add_api_route(
        "/cluster",
        cluster.cluster,
        methods=["GET"],
        response_model=cluster.ClusterInfo,
        tags=["cluster"],
        summary="What SDK workers need to join the cluster (a writer or admin key: it holds the "
        "workers' broker URL)",
        responses=responses("unauthenticated", "forbidden"),
        dependencies=[Depends(worker())],
    )
    r.add_api_route(
        "/whoami",
        whoami.whoami,
        methods=["GET"],
        response_model=whoami.WhoAmI,
        tags=["api-keys"],
        summary="What the caller's API key grants (role and namespace)",
        responses=responses("unauthenticated"),
    )
    _namespace_routes(r)
    _api_key_routes(r)
    schedules.schedule_routes(r, auth_errors=_AUTH_ERRORS, read=_READ)
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
            responses=responses("invalid_argument", "not_found", "unavailable", *_AUTH_ERRORS),
            # Completing an activity is a write to its workflow, as signalling is.
            dependencies=_WRITE,
        )


def _namespace_routes(r: APIRouter) -> None:
    tags: list[str | Enum] = ["namespaces"]
    one = "/namespaces/{namespace}"
    auth = ("unauthenticated", "forbidden")
    r.add_api_route(
        "/namespaces",
        namespaces.list_namespaces,
        methods=["GET"],
        response_model=namespaces.NamespaceList,
        tags=tags,
        summary="List the namespaces the caller may read",
        responses=responses("unauthenticated", "unavailable"),
    )
    r.add_api_route(
        "/namespaces",
        namespaces.create_namespace,
        methods=["POST"],
        status_code=201,
        response_model=namespaces.NamespaceModel,
        tags=tags,
        summary="Create a namespace (admin of every namespace)",
        responses=responses("invalid_argument", "namespace_already_exists", "unavailable", *auth),
    )
    r.add_api_route(
        one,
        namespaces.describe_namespace,
        methods=["GET"],
        response_model=namespaces.NamespaceModel,
        tags=tags,
        summary="Describe a namespace",
        responses=responses("invalid_argument", "namespace_not_found", "unavailable", *auth),
    )
    r.add_api_route(
        one,
        namespaces.update_namespace,
        methods=["PATCH"],
        response_model=namespaces.NamespaceModel,
        tags=tags,
        summary="Change a namespace's description or retention",
        responses=responses("invalid_argument", "namespace_not_found", "unavailable", *auth),
    )
    r.add_api_route(
        one,
        namespaces.deprecate_namespace,
        methods=["DELETE"],
        response_model=namespaces.NamespaceModel,
        tags=tags,
        summary="Deprecate a namespace (no new starts; nothing is deleted)",
        responses=responses("invalid_argument", "namespace_not_found", "unavailable", *auth),
    )


def _api_key_routes(r: APIRouter) -> None:
    tags: list[str | Enum] = ["api-keys"]
    auth = ("unauthenticated", "forbidden")
    r.add_api_route(
        "/api-keys",
        api_keys.create_api_key,
        methods=["POST"],
        status_code=201,
        response_model=api_keys.CreatedApiKey,
        tags=tags,
        summary="Create an API key (the key is in this answer only)",
        responses=responses("invalid_argument", "namespace_not_found", "unavailable", *auth),
    )
    r.add_api_route(
        "/api-keys",
        api_keys.list_api_keys,
        methods=["GET"],
        response_model=api_keys.ApiKeyList,
        tags=tags,
        summary="List the API keys the caller administers (never their secrets)",
        responses=responses("unavailable", *auth),
    )
    r.add_api_route(
        "/api-keys/{key_id}",
        api_keys.describe_api_key,
        methods=["GET"],
        response_model=api_keys.ApiKeyModel,
        tags=tags,
        summary="Describe an API key",
        responses=responses("not_found", "unavailable", *auth),
    )
    r.add_api_route(
        "/api-keys/{key_id}",
        api_keys.revoke_api_key,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        tags=tags,
        summary="Revoke an API key",
        responses=responses("not_found", "unavailable", *auth),
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
