"""Queries against a workflow instance: read-only handler calls, never recorded in history.

A worker answers a query task from the instance it has cached when that instance ran exactly the
last completed workflow task of the query's history; otherwise it builds a throwaway instance and
`replay_for_query`s the whole history into it. Either way the handler sees the state as of the
last completed workflow task (events after it, e.g. a signal not yet handled, are not applied),
as Temporal's query semantics have it.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import traceback
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from tidal_schema import Payload
from tidal_schema.events import HistoryEvent
from tidal_schema.messages import QueryErrorKind

from .._workflow_context import ReadOnlyContextError
from .._workflow_handlers import DYNAMIC
from .._workflow_interceptors import HandleQueryInput
from ..exceptions import NondeterminismError, TidalError, error_to_failure
from .eager import step_eagerly
from .errors import WorkflowTaskError
from .handlers import bound, handler_args

if TYPE_CHECKING:
    from .instance import WorkflowInstance


class QueryError(TidalError):
    """The query could not run (as opposed to a handler that raised): `kind` says why."""

    def __init__(self, kind: QueryErrorKind, message: str, *, known: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.known = tuple(known)


def last_completed_task(evs: Sequence[HistoryEvent]) -> int:
    """Scheduled event id of the last completed workflow task in `evs` (0: none)."""
    for ev in reversed(evs):
        a = ev.attributes
        if a.type == "WorkflowTaskCompleted":
            return int(a.scheduled_event_id)
    return 0


def replay_for_query(inst: WorkflowInstance, evs: Sequence[HistoryEvent]) -> None:
    if not evs or evs[0].event_id != 1:
        raise QueryError(QueryErrorKind.WORKER_ERROR, "a query needs the run's history from event 1")
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(inst.loop)
    try:
        inst.walk.catch_up(evs)
    except NondeterminismError as e:
        raise WorkflowTaskError(str(e), failure=error_to_failure(e), cause="NonDeterministicError") from e
    except WorkflowTaskError:
        raise
    except Exception as e:
        raise WorkflowTaskError(f"replaying for the query failed: {e!r}", failure=error_to_failure(e)) from e
    finally:
        asyncio.events._set_running_loop(outer)


STACK_TRACE_QUERY = "__stack_trace"


def stack_trace(inst: WorkflowInstance) -> str:
    """Where each of the run's coroutines waits, oldest first (Temporal's `__stack_trace`): the
    whole chain of awaits, so the workflow's own frames show below the interceptors' ones."""
    out = io.StringIO()
    tasks = sorted((t for t in asyncio.all_tasks(inst.loop) if not t.done()), key=lambda t: t.get_name())
    for n, task in enumerate(tasks):
        if n:
            out.write("\n")
        out.write(f"Stack for {task!r} (most recent call last):\n")
        frames = [(f, f.f_lineno) for f in _awaited_frames(task.get_coro())]
        out.writelines(traceback.StackSummary.extract(iter(frames)).format())
    return out.getvalue()


def _awaited_frames(coro: Any) -> Iterator[FrameType]:
    """The frames of `coro` and of what it awaits, outermost first."""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            return
        yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def run_query(
    inst: WorkflowInstance,
    name: str,
    args: Sequence[Payload],
    *,
    query_id: str = "",
    headers: Mapping[str, Payload] | None = None,
) -> Payload:
    q = inst.handlers.queries.get(name)
    if q is None and name == STACK_TRACE_QUERY:
        # Built in, unless the workflow defines a query of that name itself.
        return inst.converter.to_payload(stack_trace(inst))
    q = q or inst.handlers.queries.get(DYNAMIC)
    if q is None:
        known = sorted(n for n in inst.handlers.queries if n != DYNAMIC)
        raise QueryError(
            QueryErrorKind.UNKNOWN_QUERY,
            f"unknown queryType {name!r} for workflow {inst.definition.name}; "
            f"KnownQueryTypes=[{', '.join(known)}]",
            known=known,
        )
    obj = inst._object
    if obj is None:
        raise QueryError(QueryErrorKind.NOT_READY, "the workflow has not started yet: nothing to query")
    fn = bound(q, obj)
    try:
        values = handler_args(q, name, args, inst.converter)
        inspect.signature(fn).bind(*values)
    except (ValueError, TypeError) as e:
        raise QueryError(QueryErrorKind.BAD_ARGUMENTS, f"bad arguments for query {name!r}: {e}") from e
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(inst.loop)
    before = len(inst.state.commands)
    call = HandleQueryInput(id=query_id, query=name, args=values, headers=dict(headers or {}))
    # A query never replays (temporalio's `is_replaying()` is false in queries), even on an
    # instance that replay just rebuilt for it.
    replaying, inst.state.replaying = inst.state.replaying, False
    try:
        result = inst.read_only(_through_chain, inst, call)
    except ReadOnlyContextError as e:
        raise QueryError(
            QueryErrorKind.HANDLER_FAILED,
            f"query handler {name!r} tried to change the run ({e}): queries are read-only",
        ) from e
    finally:
        inst.state.replaying = replaying
        asyncio.events._set_running_loop(outer)
        issued = len(inst.state.commands) > before
        del inst.state.commands[before:]
    if issued:
        raise QueryError(
            QueryErrorKind.HANDLER_FAILED,
            f"query handler {name!r} tried to issue a command (start an activity or timer...): "
            "queries are read-only",
        )
    return inst.converter.to_payload(result)


def _through_chain(inst: WorkflowInstance, call: HandleQueryInput) -> Any:
    done, result, rest = step_eagerly(inst.inbound.handle_query(call))
    if not done:
        assert rest is not None
        rest.close()
        raise QueryError(
            QueryErrorKind.HANDLER_FAILED,
            f"query {call.query!r} waited (in its handler or an interceptor): queries must answer at once",
        )
    return result
