"""Update-with-start, as temporalio's `Client.execute_update_with_start_workflow` /
`start_update_with_start_workflow` with a `WithStartWorkflowOperation`: the start and the update
go to the server in one request and history applies them in one transaction (a new run's first
workflow task already carries the update). With `id_conflict_policy=USE_EXISTING` a running
workflow is updated instead; otherwise a running workflow is `WorkflowAlreadyStartedError`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _client_interactions as _ia
from ._call_options import http_options, wire_header
from ._client_inputs import StartWorkflowUpdateWithStartInput, UpdateWithStartStartWorkflowInput
from ._client_types import _workflow_name
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from ._start_options import StartOptions
from .common import Priority, RetryPolicy
from .exceptions import RPCError, WorkflowAlreadyStartedError

if TYPE_CHECKING:
    from ._client import Client
    from ._workflow_handle import WorkflowHandle

__all__ = ["WithStartWorkflowOperation", "fail", "resolve", "start_update_with_start"]

ReturnT = TypeVar("ReturnT")
_MISSING: Any = object()


class WithStartWorkflowOperation(Generic[ReturnT]):
    """The start half of update-with-start (temporalio's class of the same name). After the
    update-with-start call, `await op.workflow_handle()` is the run that was started or updated."""

    def __init__(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        result_type: type | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        start_delay: timedelta | None = None,
        request_id: str | None = None,
        priority: Priority = Priority.default,
    ) -> None:
        name, ret_type = _workflow_name(workflow)
        self._start_workflow_input = UpdateWithStartStartWorkflowInput(
            workflow=name,
            args=[arg] if arg is not _MISSING else list(args),
            id=id,
            task_queue=task_queue,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            retry_policy=retry_policy,
            cron_schedule="",
            memo=memo,
            search_attributes=search_attributes,
            start_delay=start_delay,
            headers={},
            static_summary=static_summary,
            static_details=static_details,
            ret_type=result_type or ret_type,
            priority=priority,
            # Fixed once, so the client's retries of the request start at most one run.
            request_id=request_id or str(uuid.uuid4()),
        )
        self._handle: asyncio.Future[WorkflowHandle[ReturnT]] | None = None

    def _future(self) -> asyncio.Future[WorkflowHandle[ReturnT]]:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().create_future()
        return self._handle

    async def workflow_handle(self) -> WorkflowHandle[ReturnT]:
        """The workflow's handle once the update-with-start call has reached the server; raises
        what that call raised if it failed before."""
        return await asyncio.shield(self._future())


def resolve(op: WithStartWorkflowOperation[Any], client: Client, run_id: str, started: bool) -> None:
    """Give `op.workflow_handle()` its handle once the server answered."""
    handle = client.get_workflow_handle(
        op._start_workflow_input.id,
        run_id=run_id,
        first_execution_run_id=run_id if started else None,
        result_type=op._start_workflow_input.ret_type,
    )
    op._future().set_result(handle)


def fail(op: WithStartWorkflowOperation[Any], err: BaseException) -> None:
    future = op._future()
    future.set_exception(err)
    future.exception()  # retrieved: nobody may ever ask for the handle


def _start_options(start: UpdateWithStartStartWorkflowInput) -> StartOptions:
    if start.cron_schedule:
        raise ValueError("cron_schedule is not supported: create a schedule (Client.create_schedule)")
    return StartOptions(
        workflow_type=start.workflow,
        args=list(start.args),
        id=start.id,
        task_queue=start.task_queue,
        execution_timeout=start.execution_timeout,
        run_timeout=start.run_timeout,
        task_timeout=start.task_timeout,
        id_reuse_policy=start.id_reuse_policy,
        id_conflict_policy=start.id_conflict_policy,
        retry_policy=start.retry_policy,
        memo=start.memo,
        search_attributes=start.search_attributes,
        start_delay=start.start_delay,
        request_id=start.request_id,
        static_summary=start.static_summary,
        static_details=start.static_details,
        priority=start.priority,
        header=start.headers,
    )


async def start_update_with_start(
    client: Client, input: StartWorkflowUpdateWithStartInput
) -> _ia.WorkflowUpdateHandle[Any]:
    start, update = input.start_workflow_input, input.update_workflow_input
    wait_for_stage = update.wait_for_stage
    if wait_for_stage is _ia.WorkflowUpdateStage.ADMITTED:
        raise ValueError("waiting for the ADMITTED stage is not supported (as in temporalio)")
    update_body: dict[str, Any] = {
        "name": update.update,
        "update_id": update.update_id or str(uuid.uuid4()),
        "input": [p.model_dump(mode="json") for p in await client.data_converter.encode(list(update.args))],
        "identity": client.identity,
        "wait_for_stage": wait_for_stage.name.lower(),
        "wait": input.rpc_timeout.total_seconds() if input.rpc_timeout else _ia._RESULT_POLL_SECONDS,
    }
    if update.headers:
        update_body["header"] = wire_header(update.headers)
    try:
        body = {
            "start": {**await _start_options(start).body(client.data_converter), "identity": client.identity}
        }
        data = await client._call(
            "POST",
            f"/api/v1/namespaces/{client.namespace}/update-with-start",
            json={**body, "update": update_body},
            **http_options(input.rpc_metadata, None),
        )
    except RPCError as exc:
        err: BaseException = exc
        if exc.status == "already_started":
            err = WorkflowAlreadyStartedError(
                start.id, start.workflow, run_id=exc.run_id, first_run_id=exc.problem.get("first_run_id")
            )
        input._on_start_error(err)
        raise err from exc
    except BaseException as exc:
        input._on_start_error(exc)
        raise
    run_id = str(data["run_id"])
    input._on_start(run_id, bool(data.get("started")))
    answer: dict[str, Any] = data["update"]
    if _ia.WorkflowUpdateStage[str(answer["stage"]).upper()] < wait_for_stage:
        # Not there within one wait: keep waiting on the same update id (admitted once).
        answer = await _ia._update_call(
            client,
            start.id,
            run_id,
            {
                k: v
                for k, v in update_body.items()
                if k in ("name", "update_id", "input", "identity", "header")
            },
            wait_for_stage,
            input.rpc_timeout,
        )
    completed = _ia.WorkflowUpdateStage[str(answer["stage"]).upper()] is _ia.WorkflowUpdateStage.COMPLETED
    out: _ia.WorkflowUpdateHandle[Any] = _ia.WorkflowUpdateHandle(
        client,
        answer["update_id"],
        start.id,
        workflow_run_id=run_id,
        result_type=update.ret_type,
        known_outcome=answer if completed else None,
    )
    if answer.get("rejected"):
        await _ia._update_outcome(client, answer, None)  # raises WorkflowUpdateFailedError
    return out
