"""The worker's answer to a query task: from the cached instance when it ran exactly the query's
last completed workflow task, else from a throwaway instance rebuilt by replay (query.py has the
rules)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

from tidal_schema.messages import QueryErrorKind, QueryWorkflowReply, QueryWorkflowTask

from .._definitions import WorkflowDefinition, lookup
from .._workflow_interceptors import WorkflowInboundInterceptor
from ..converter import DataConverter
from .errors import WorkflowTaskError
from .instance import WorkflowInstance
from .query import QueryError, last_completed_task

__all__ = ["answer_query"]


def answer_query(
    task: QueryWorkflowTask,
    *,
    definitions: Mapping[str, WorkflowDefinition],
    cache: MutableMapping[str, WorkflowInstance],
    converter: DataConverter,
    identity: str,
    interceptor_classes: Sequence[type[WorkflowInboundInterceptor]] = (),
) -> QueryWorkflowReply:
    """The worker's answer to a query task (never raises: every failure is a structured reply)."""

    def error(kind: QueryErrorKind, message: str, known: Sequence[str] = ()) -> QueryWorkflowReply:
        return QueryWorkflowReply(
            query_id=task.query_id, error=kind, message=message, known_queries=tuple(known), identity=identity
        )

    defn = lookup(definitions, task.workflow_type)
    if defn is None:
        return error(
            QueryErrorKind.WORKER_ERROR,
            f"workflow type {task.workflow_type!r} is not registered on worker {identity}",
        )
    cached = cache.get(task.run_id)
    target = last_completed_task(task.events)
    if cached is not None and target and cached.activated_upto == target:
        instance = cached
    else:
        cached = None
        instance = WorkflowInstance(
            definition=defn,
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            converter=converter,
            interceptor_classes=interceptor_classes,
        )
        try:
            instance.catch_up(task.events)
        except WorkflowTaskError as e:
            return error(QueryErrorKind.WORKER_ERROR, f"cannot rebuild the workflow state: {e}")
        except QueryError as e:
            return error(e.kind, str(e), e.known)
    try:
        result = instance.query(task.query_type, task.query_args, query_id=task.query_id, headers=task.header)
    except QueryError as e:
        if cached is not None and e.kind is QueryErrorKind.HANDLER_FAILED:
            # The handler may have changed the instance's counters: replay next time.
            cache.pop(task.run_id, None)
        return error(e.kind, str(e), e.known)
    except Exception as e:
        return error(QueryErrorKind.HANDLER_FAILED, f"{type(e).__name__}: {e}")
    return QueryWorkflowReply(query_id=task.query_id, result=result, identity=identity)
