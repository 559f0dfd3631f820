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
from ._client_types import _workflow_name
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from ._start_options import StartOptions
from .common import Priority, RetryPolicy
from .exceptions import RPCError, WorkflowAlreadyStartedError

if TYPE_CHECKING:
    from .client import Client, WorkflowHandle

__all__ = ["WithStartWorkflowOperation", "start_update_with_start"]

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
        self._result_type = result_type or ret_type
        self._options = StartOptions(
            workflow_type=name,
            args=[arg] if arg is not _MISSING else list(args),
            id=id,
            task_queue=task_queue,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            retry_policy=retry_policy,
            memo=memo,
            search_attributes=search_attributes,
            start_delay=start_delay,
            # Fixed once, so the client's retries of the request start at most one run.
            request_id=request_id or str(uuid.uuid4()),
            static_summary=static_summary,
            static_details=static_details,
            priority=priority,
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


async def start_update_with_start(
    client: Client,
    update: Any,
    values: list[Any],
    *,
    start_workflow_operation: WithStartWorkflowOperation[Any],
    wait_for_stage: _ia.WorkflowUpdateStage,
    id: str | None,
    result_type: type | None,
    rpc_timeout: timedelta | None,
) -> _ia.WorkflowUpdateHandle[Any]:
    if wait_for_stage is _ia.WorkflowUpdateStage.ADMITTED:
        raise ValueError("waiting for the ADMITTED stage is not supported (as in temporalio)")
    op = start_workflow_operation
    future = op._future()
    if future.done():
        raise RuntimeError("a WithStartWorkflowOperation can be used only once")
    name, hint = _ia._update_name(update)
    update_body: dict[str, Any] = {
        "name": name,
        "update_id": id or str(uuid.uuid4()),
        "input": [p.model_dump(mode="json") for p in await client.data_converter.encode(values)],
        "identity": client.identity,
        "wait_for_stage": wait_for_stage.name.lower(),
        "wait": rpc_timeout.total_seconds() if rpc_timeout else _ia._RESULT_POLL_SECONDS,
    }
    opts = op._options
    try:
        body = {"start": {**await opts.body(client.data_converter), "identity": client.identity}}
        data = await client._call(
            "POST",
            f"/api/v1/namespaces/{client.namespace}/update-with-start",
            json={**body, "update": update_body},
        )
    except RPCError as exc:
        err: BaseException = exc
        if exc.status == "already_started":
            err = WorkflowAlreadyStartedError(opts.id, opts.workflow_type, run_id=exc.run_id)
        future.set_exception(err)
        future.exception()  # retrieved: nobody may ever ask for the handle
        raise err from exc
    run_id = str(data["run_id"])
    handle = client.get_workflow_handle(
        opts.id,
        run_id=run_id,
        first_execution_run_id=run_id if data.get("started") else None,
        result_type=op._result_type,
    )
    future.set_result(handle)
    answer: dict[str, Any] = data["update"]
    if _ia.WorkflowUpdateStage[str(answer["stage"]).upper()] < wait_for_stage:
        # Not there within one wait: keep waiting on the same update id (admitted once).
        answer = await _ia._update_call(
            client,
            opts.id,
            run_id,
            {k: update_body[k] for k in ("name", "update_id", "input", "identity")},
            wait_for_stage,
            rpc_timeout,
        )
    completed = _ia.WorkflowUpdateStage[str(answer["stage"]).upper()] is _ia.WorkflowUpdateStage.COMPLETED
    out: _ia.WorkflowUpdateHandle[Any] = _ia.WorkflowUpdateHandle(
        client,
        answer["update_id"],
        opts.id,
        workflow_run_id=run_id,
        result_type=result_type or hint,
        known_outcome=answer if completed else None,
    )
    if answer.get("rejected"):
        await _ia._update_outcome(client, answer, None)  # raises WorkflowUpdateFailedError
    return out
