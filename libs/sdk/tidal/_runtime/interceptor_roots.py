"""The innermost links of a run's workflow interceptor chains: the runtime's own code.

`build_chain` instantiates the worker's `WorkflowInboundInterceptor` classes around
`RootInbound` (the first class given is the outermost) and calls `init` with `RootOutbound`, which
each interceptor may wrap. What workflow code calls (`workflow.start_activity`, `info()`...) goes
to the outermost outbound link; what history delivers goes to the outermost inbound link.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .._children import POLICY_NAMES, ChildWorkflowCancellationType, ChildWorkflowHandle
from .._search_attributes import TypedSearchAttributes
from .._visibility import encode_search_attributes
from .._workflow_activities import ActivityHandle
from .._workflow_continue import ContinueAsNewRequest
from .._workflow_handlers import DYNAMIC
from .._workflow_info import Info
from .._workflow_interceptors import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)
from .handlers import bound

if TYPE_CHECKING:
    from .instance import WorkflowInstance

__all__ = ["RootInbound", "RootOutbound", "build_chain"]


def build_chain(
    instance: WorkflowInstance, classes: Sequence[type[WorkflowInboundInterceptor]]
) -> WorkflowInboundInterceptor:
    chain: WorkflowInboundInterceptor = RootInbound(instance)
    for cls in reversed(classes):
        chain = cls(chain)
    chain.init(RootOutbound(instance))
    return chain


class RootInbound(WorkflowInboundInterceptor):
    """Calls the workflow's own methods and handlers (looked up again by name, so an
    interceptor that renames a call reaches the handler it names)."""

    def __init__(self, instance: WorkflowInstance) -> None:  # no `next`: the end of the chain
        self._instance = instance

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self._instance.outbound = outbound

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await input.run_fn(self._instance.workflow_object, *input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        inst = self._instance
        d = inst.handlers.signals.get(input.signal) or inst.handlers.signals.get(DYNAMIC)
        if d is None:
            raise RuntimeError(f"no signal handler for {input.signal!r}")
        result = bound(d, inst.workflow_object)(*input.args)
        if d.is_async:
            await result

    async def handle_query(self, input: HandleQueryInput) -> Any:
        inst = self._instance
        d = inst.handlers.queries.get(input.query) or inst.handlers.queries.get(DYNAMIC)
        if d is None:
            raise RuntimeError(f"no query handler for {input.query!r}")
        return bound(d, inst.workflow_object)(*input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        inst = self._instance
        d = inst.handlers.updates.get(input.update) or inst.handlers.updates.get(DYNAMIC)
        if d is None or d.validator is None:
            return
        obj = inst.workflow_object
        validator = functools.partial(d.validator, obj) if d.is_method else d.validator
        validator(*input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        inst = self._instance
        d = inst.handlers.updates.get(input.update) or inst.handlers.updates.get(DYNAMIC)
        if d is None:
            raise RuntimeError(f"no update handler for {input.update!r}")
        result = bound(d, inst.workflow_object)(*input.args)
        if d.is_async:
            return await result
        return result


class RootOutbound(WorkflowOutboundInterceptor):
    """Records the commands (through the instance's collaborators)."""

    def __init__(self, instance: WorkflowInstance) -> None:  # no `next`: the end of the chain
        self._instance = instance

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        self._instance.assert_not_read_only("continue as new")
        raise ContinueAsNewRequest(input)

    def info(self) -> Info:
        return self._instance.info

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        inst = self._instance
        run_id = inst.children.run_id_of(input.child_workflow_id)
        await inst.children.signal_external(
            inst.info.namespace,
            input.child_workflow_id,
            run_id,
            input.signal,
            list(input.args),
            headers=input.headers,
        )

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        await self._instance.children.signal_external(
            input.namespace,
            input.workflow_id,
            input.workflow_run_id,
            input.signal,
            list(input.args),
            headers=input.headers,
        )

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        return self._instance.activities.start(
            activity_type=input.activity,
            args=list(input.args),
            task_queue=input.task_queue,
            result_type=input.ret_type,
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            schedule_to_start_timeout=input.schedule_to_start_timeout,
            start_to_close_timeout=input.start_to_close_timeout,
            heartbeat_timeout=input.heartbeat_timeout,
            retry_policy=input.retry_policy,
            activity_id=input.activity_id,
            cancellation_type=input.cancellation_type,
            priority=input.priority,
            summary=input.summary,
            headers=input.headers,
            disable_eager_execution=input.disable_eager_execution,
        )

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> ChildWorkflowHandle[Any]:
        if input.cancellation_type is not ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED:
            raise ValueError("only ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED is supported")
        attrs = input.search_attributes
        handle = self._instance.children.start(
            workflow_type=input.workflow,
            args=list(input.args),
            id=input.id,
            task_queue=input.task_queue,
            result_type=input.ret_type,
            parent_close_policy=POLICY_NAMES[input.parent_close_policy],
            execution_timeout=input.execution_timeout,
            run_timeout=input.run_timeout,
            task_timeout=input.task_timeout,
            id_reuse_policy=input.id_reuse_policy,
            retry_policy=input.retry_policy,
            cron_schedule=input.cron_schedule,
            memo=dict(input.memo or {}),
            search_attributes=(
                attrs.to_json()
                if isinstance(attrs, TypedSearchAttributes)
                else encode_search_attributes(dict(attrs or {}))
            ),
            static_summary=input.static_summary,
            static_details=input.static_details,
            headers=input.headers,
            priority=input.priority,
        )
        try:
            await asyncio.shield(handle._started)
        except asyncio.CancelledError:
            handle.cancel()
            raise
        return handle

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        inst = self._instance
        fut = inst.local_activities.start(
            activity_type=input.activity,
            args=list(input.args),
            result_type=input.ret_type,
            start_to_close_timeout=input.start_to_close_timeout,
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            retry_policy=input.retry_policy.to_schema() if input.retry_policy else None,
            local_retry_threshold=input.local_retry_threshold,
            activity_id=input.activity_id,
            summary=input.summary,
            headers=input.headers,
        )

        async def wait() -> Any:
            return await fut

        return ActivityHandle(wait(), loop=inst.loop, name=f"local_activity:{input.activity}")
