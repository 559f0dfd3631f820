"""Queries and updates from the client side (`WorkflowHandle.query`, `start_update`,
`execute_update`, `WorkflowUpdateHandle`): kept apart from `client.py`, which re-exports the
public names (`from tidal.client import WorkflowUpdateStage`, as in temporalio.client)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tidal_schema import Failure, Payload, WorkflowExecutionStatus

from ._call_options import http_options, wire_header
from ._client_errors import WorkflowUpdateRPCTimeoutOrCancelledError
from ._policies import QueryRejectCondition
from .activity import _type_hints
from .exceptions import RPCError, TidalError

if TYPE_CHECKING:
    from ._client import Client
    from ._client_inputs import QueryWorkflowInput, StartWorkflowUpdateInput

ReturnT = TypeVar("ReturnT")
_RESULT_POLL_SECONDS = 30.0


class WorkflowUpdateStage(IntEnum):
    """How far `start_update` waits (as temporalio's; ADMITTED is not supported for waiting)."""

    ADMITTED = 1
    ACCEPTED = 2
    COMPLETED = 3


class WorkflowUpdateFailedError(TidalError):
    """The update was rejected (by its validator, or because the workflow has no such update)
    or its handler raised a FailureError; the reason is `cause`."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__("Workflow update failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        assert self.__cause__ is not None
        return self.__cause__


class WorkflowUpdateHandle(Generic[ReturnT]):
    """An update that was sent (from `WorkflowHandle.start_update` or `get_update_handle`)."""

    def __init__(
        self,
        client: Client,
        id: str,
        workflow_id: str,
        *,
        workflow_run_id: str | None = None,
        result_type: type | None = None,
        known_outcome: dict[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._id = id
        self._workflow_id = workflow_id
        self._workflow_run_id = workflow_run_id
        self._result_type = result_type
        self._outcome = known_outcome

    @property
    def id(self) -> str:
        return self._id

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        return self._workflow_run_id

    async def result(self, *, rpc_timeout: timedelta | None = None) -> ReturnT:
        """Wait for the update to complete; raises WorkflowUpdateFailedError if it failed."""
        if self._outcome is None:
            body: dict[str, Any] = {"update_id": self._id}
            self._outcome = await _update_call(
                self._client,
                self._workflow_id,
                self._workflow_run_id,
                body,
                WorkflowUpdateStage.COMPLETED,
                rpc_timeout,
            )
        value: ReturnT = await _update_outcome(self._client, self._outcome, self._result_type)
        return value


async def _update_call(
    c: Client,
    workflow_id: str,
    run_id: str | None,
    body: dict[str, Any],
    stage: WorkflowUpdateStage,
    rpc_timeout: timedelta | None,
) -> dict[str, Any]:
    """POST the update (the same update_id every time: admitted once) until it reaches `stage`."""
    body = {**body, "wait_for_stage": stage.name.lower()}
    if run_id:
        body["run_id"] = run_id
    deadline = time.monotonic() + rpc_timeout.total_seconds() if rpc_timeout else None
    while True:
        wait = (
            _RESULT_POLL_SECONDS
            if deadline is None
            else max(0.0, min(_RESULT_POLL_SECONDS, deadline - time.monotonic()))
        )
        data = await c._call("POST", c._wf_path(workflow_id, "/update"), json={**body, "wait": wait})
        if WorkflowUpdateStage[str(data["stage"]).upper()] >= stage:
            return data
        if deadline is not None and time.monotonic() >= deadline:
            # Temporal's error for it (an RPCError with status deadline_exceeded as before).
            raise WorkflowUpdateRPCTimeoutOrCancelledError()


async def _update_outcome(c: Client, data: dict[str, Any], result_type: Any) -> Any:
    if data.get("failure"):
        failure = Failure.model_validate(data["failure"])
        raise WorkflowUpdateFailedError(await c.data_converter.decode_failure(failure))
    payloads = [Payload.model_validate(p) for p in data.get("result") or []]
    return (await c.data_converter.decode(payloads[:1], [result_type]))[0] if payloads else None


def _update_name(update: Any) -> tuple[str, Any]:
    if isinstance(update, str):
        return update, None
    name = getattr(update, "__tidal_update_name__", None)
    if name is None:
        raise TypeError(f"{update!r} is not an update: pass a @workflow.update method or the update name")
    return str(name), _type_hints(update, skip_self=True)[1]


class WorkflowQueryFailedError(TidalError):
    """The query ran but failed: unknown query name (`known_queries` lists the handlers), bad
    arguments, the handler raised, or the worker could not rebuild the workflow's state. A query
    nobody answers is an `RPCError` with status `deadline_exceeded` instead (as in temporalio)."""

    def __init__(self, message: str, *, kind: str = "", known_queries: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.known_queries = tuple(known_queries)


class WorkflowQueryRejectedError(TidalError):
    """The server refused the query because of its `reject_condition` (temporalio's):
    `status` is the run's status."""

    def __init__(self, status: WorkflowExecutionStatus | None) -> None:
        super().__init__(f"Query rejected, status: {status.value if status else 'unknown'}")
        self._status = status

    @property
    def status(self) -> WorkflowExecutionStatus | None:
        return self._status


_REJECT_CONDITIONS = {
    QueryRejectCondition.NONE: "None",
    QueryRejectCondition.NOT_OPEN: "NotOpen",
    QueryRejectCondition.NOT_COMPLETED_CLEANLY: "NotCompletedCleanly",
}


def query_name(query: Any) -> tuple[str, Any]:
    """A query may be named by string or by its @workflow.query method (with its return hint)."""
    if isinstance(query, str):
        return query, None
    name = getattr(query, "__tidal_query_name__", None)
    if name is None:
        raise TypeError(f"{query!r} is not a query: pass a @workflow.query method or the query name")
    return str(name), _type_hints(query, skip_self=True)[1]


async def query(c: Client, input: QueryWorkflowInput) -> Any:
    body: dict[str, Any] = {
        "query_name": input.query,
        "input": [p.model_dump(mode="json") for p in await c.data_converter.encode(list(input.args))],
    }
    if input.run_id:
        body["run_id"] = input.run_id
    if input.rpc_timeout is not None:
        body["timeout"] = input.rpc_timeout.total_seconds()
    if input.reject_condition is not None:
        body["reject_condition"] = _REJECT_CONDITIONS[input.reject_condition]
    if input.headers:
        body["header"] = wire_header(input.headers)
    try:
        data = await c._call(
            "POST", c._wf_path(input.id, "/query"), json=body, **http_options(input.rpc_metadata, None)
        )
    except RPCError as exc:
        problem = exc.problem
        if exc.status == "query_failed":
            raise WorkflowQueryFailedError(
                str(exc), kind=problem.get("query_error", ""), known_queries=problem.get("known_queries", ())
            ) from None
        if exc.status == "query_rejected":
            status = problem.get("workflow_status")
            raise WorkflowQueryRejectedError(WorkflowExecutionStatus(status) if status else None) from None
        raise
    result = await c.data_converter.decode([Payload.model_validate(data["result"])], [input.ret_type])
    return result[0]


async def start_update(c: Client, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
    if input.wait_for_stage is WorkflowUpdateStage.ADMITTED:
        raise ValueError("waiting for the ADMITTED stage is not supported (as in temporalio)")
    body: dict[str, Any] = {
        "name": input.update,
        "update_id": input.update_id or str(uuid.uuid4()),
        "input": [p.model_dump(mode="json") for p in await c.data_converter.encode(list(input.args))],
        "identity": c.identity,
    }
    if input.headers:
        body["header"] = wire_header(input.headers)
    data = await _update_call(c, input.id, input.run_id, body, input.wait_for_stage, input.rpc_timeout)
    completed = WorkflowUpdateStage[str(data["stage"]).upper()] is WorkflowUpdateStage.COMPLETED
    out: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
        c,
        data["update_id"],
        input.id,
        workflow_run_id=data.get("run_id"),
        result_type=input.ret_type,
        known_outcome=data if completed else None,
    )
    if data.get("rejected"):
        await _update_outcome(c, data, None)  # raises WorkflowUpdateFailedError
    return out
