"""Updates inside a workflow instance: validate, accept or reject, run the handler, complete.

A workflow task carries the admitted updates (`WorkflowTask.updates`). In the task's new
activation each is validated (its validator runs against the current state; raising rejects
it), then accepted: a ProtocolMessage(accept) command, and the handler starts like a signal
handler. When the handler returns (in this activation or a later one) a ProtocolMessage(complete)
carries its result, or its failure if it raised a FailureError (other exceptions fail the
workflow task, as in temporalio). On replay an update is delivered, unvalidated, in the
activation of the task after whose WorkflowTaskCompleted its WorkflowExecutionUpdateAccepted
event stands; rejected updates never reach history and are never replayed. Protocol messages
are not matched against history events (they are not command events).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tidal_schema.commands import ProtocolMessage
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import UpdateRequest

from .._workflow_context import ReadOnlyContextError
from .._workflow_handlers import DYNAMIC, UpdateInfo, current_update
from .._workflow_interceptors import HandleUpdateInput
from ..exceptions import ApplicationError, CancelledError, FailureError, error_to_failure
from .eager import step_eagerly
from .handlers import RunningHandler, bound, handler_args

if TYPE_CHECKING:
    from .instance import WorkflowInstance

_TASK_EVENTS = frozenset(
    {
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowTaskFailed",
        "WorkflowTaskTimedOut",
    }
)


def accepted_ahead(evs: Sequence[HistoryEvent]) -> tuple[UpdateRequest, ...]:
    """Updates accepted by the task whose WorkflowTaskCompleted precedes `evs`."""
    out: list[UpdateRequest] = []
    for ev in evs:
        if ev.event_type in _TASK_EVENTS:
            break
        a = ev.attributes
        if a.type == "WorkflowExecutionUpdateAccepted":
            out.append(UpdateRequest(update_id=a.update_id, name=a.name, input=a.input, header=a.header))
    return tuple(out)


def only_rejections(commands: Sequence[Any]) -> bool:
    return all(isinstance(c, ProtocolMessage) and c.kind == "reject" for c in commands)


def deliver(inst: WorkflowInstance, requests: Sequence[UpdateRequest], *, validate: bool) -> None:
    """Each update is looked up, validated and accepted in a task of its own, after the code
    already scheduled (the run method's first step in a first activation), as temporalio does: a
    handler the run method sets at its top (`workflow.set_update_handler`) receives an update that
    came with the run's first task."""
    for r in requests:

        async def deliver_one(r: UpdateRequest = r) -> None:
            _deliver(inst, r, validate=validate)

        inst.loop.create_task(deliver_one(), name=f"update:{r.name}:deliver")


def _deliver(inst: WorkflowInstance, r: UpdateRequest, *, validate: bool) -> None:
    def reject(exc: BaseException) -> None:
        inst.state.commands.append(
            ProtocolMessage(update_id=r.update_id, kind="reject", failure=error_to_failure(exc))
        )

    d = inst.handlers.updates.get(r.name) or inst.handlers.updates.get(DYNAMIC)
    if d is None:
        known = ", ".join(sorted(n for n in inst.handlers.updates if n != DYNAMIC)) or "none"
        reject(ApplicationError(f"unknown update {r.name!r} (known updates: {known})", type="UpdateNotFound"))
        return
    obj = inst._object
    if obj is None and d.is_method:
        reject(ApplicationError("the workflow has not started", type="UpdateRejected"))
        return
    try:
        args = handler_args(d, r.name, r.input, inst.converter)
        inspect.signature(bound(d, obj)).bind(*args)
    except (ValueError, TypeError) as e:
        reject(ApplicationError(f"bad arguments for update {r.name!r}: {e}", type="BadArguments"))
        return
    # The validator, the handler and whatever the handler starts see `current_update_info()`.
    ctx = contextvars.copy_context()
    ctx.run(current_update.set, UpdateInfo(id=r.update_id, name=r.name))
    call = HandleUpdateInput(id=r.update_id, update=r.name, args=args, headers=dict(r.header))
    if validate and d.validator is not None:
        try:
            ctx.run(inst.read_only, inst.inbound.handle_update_validator, call)
        except ReadOnlyContextError as e:
            inst.lifecycle.handler_failed(e)  # a validator that tries a command is a bug: fail the task
            return
        except Exception as e:
            reject(e)
            return
    inst.state.commands.append(ProtocolMessage(update_id=r.update_id, kind="accept"))
    coro = inst.inbound.handle_update_handler(call)
    if not d.is_async:
        # A sync handler completes in this step, through interceptors that only pass it on.
        try:
            done, result, rest = step_eagerly(coro, context=ctx)
        except FailureError as e:
            _complete(inst, r.update_id, failure=e)
            return
        except Exception as e:
            inst.lifecycle.handler_failed(e)
            return
        if done:
            _complete(inst, r.update_id, result=result)
            return
        assert rest is not None
        coro = rest
    task = inst.loop.create_task(coro, name=f"update:{r.name}", context=ctx)
    task.add_done_callback(lambda t: _finished(inst, r.update_id, t))
    inst.handlers.track(task, RunningHandler("update", r.name, d.unfinished_policy, r.update_id))


def _finished(inst: WorkflowInstance, update_id: str, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        _complete(inst, update_id, failure=CancelledError("update handler cancelled"))
        return
    e = task.exception()
    if e is None:
        _complete(inst, update_id, result=task.result())
    elif isinstance(e, FailureError):
        _complete(inst, update_id, failure=e)
    else:
        inst.lifecycle.handler_failed(e)


def _complete(
    inst: WorkflowInstance, update_id: str, *, result: Any = None, failure: BaseException | None = None
) -> None:
    if failure is not None:
        msg = ProtocolMessage(update_id=update_id, kind="complete", failure=error_to_failure(failure))
    else:
        msg = ProtocolMessage(
            update_id=update_id, kind="complete", result=inst.converter.to_payloads([result])
        )
    inst.state.commands.append(msg)
