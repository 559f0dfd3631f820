"""GET /api/v1/namespaces/{ns}/workflows/{workflow_id}/result?run_id=&wait=: the outcome of a run,
as a long poll.

A closed run answers at once. For a running one the request waits (up to `wait` seconds, capped at
`long_poll_max_seconds`) for history's WorkflowClosed notification and answers from it when it
carries the outcome (history publishes it after the close committed; a large outcome is left out
of it), otherwise reads the database once and answers; `{"status": "Running"}` tells the client
to poll again. The database is read a bounded number of times per request (to find the run, once
the watch is registered, after waking unless the notification answered, and once more if a
notification outran the commit's visibility), never in a loop.

The first poll of a run this process started (and whose closes it hears) waits for the close
before reading anything, for up to UNREAD_WAIT_SECONDS: in a burst most runs are answered without
a read; a close that never arrives costs that wait, then the reads above.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Query
from tidal_schema import Failure, Payload, WorkflowExecutionStatus
from tidal_schema.messages import WorkflowClosed

from ..context import Ctx, FrontendContext
from ..operations.models import WorkflowResultResponse as WorkflowResultResponse
from ..store import ExecutionRow
from .models import NamespacePath, RunIdQuery, WorkflowIdPath, not_found

# A notification is published after history's commit, but our read may run on a connection
# whose snapshot predates it (or a replica lagging behind): give the commit this long to show.
VISIBILITY_GRACE_SECONDS = 0.25

# How long the first poll of a run this process started waits for its close before reading it.
UNREAD_WAIT_SECONDS = 2.0


async def get_result(
    ctx: Ctx,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    run_id: RunIdQuery = None,
    wait: Annotated[float, Query(ge=0, description="seconds to wait for the run to close")] = 0.0,
) -> WorkflowResultResponse:
    wait = min(wait, ctx.settings.long_poll_max_seconds)
    if run_id and wait > 0:
        known, closed_here = ctx.waiters.take_started((namespace, workflow_id, run_id))
        if known:
            # This process started the run and hears its close: answer from the close, or wait a
            # while for it before reading (a retried start's old run, or a lost notification,
            # costs that while, then the usual read).
            if closed_here is None:
                with ctx.waiters.watch((namespace, workflow_id, run_id)) as closed:
                    closed_here = await _notification(closed, min(wait, UNREAD_WAIT_SECONDS))
                wait -= min(wait, UNREAD_WAIT_SECONDS)
            if closed_here is not None and closed_here.has_outcome:
                return _from_notification(closed_here)
    if run_id and wait > 0:
        # The run is named (the SDK names the run it started): watch before the first read, so
        # one read both finds the run and closes the race between reading and watching.
        with ctx.waiters.watch((namespace, workflow_id, run_id)) as closed:
            row = await ctx.store.execution(namespace, workflow_id, run_id)
            if row is None:
                raise not_found(namespace, workflow_id, run_id)
            if not row.running:
                return await _response(ctx, row)
            notification = await _notification(closed, wait)
        return await _after_wait(ctx, row, notification)
    row = await ctx.store.execution(namespace, workflow_id, run_id or None)
    if row is None:
        raise not_found(namespace, workflow_id, run_id)
    if not row.running or wait <= 0:
        return await _response(ctx, row)
    with ctx.waiters.watch((row.namespace, row.workflow_id, row.run_id)) as closed:
        # Watching first, then re-reading: a close that committed after our first read but before
        # the watch started would otherwise be missed until the timeout.
        again = await _reread(ctx, row)
        if not again.running:
            return await _response(ctx, again)
        notification = await _notification(closed, wait)
    return await _after_wait(ctx, row, notification)


async def _notification(closed: asyncio.Future[WorkflowClosed | None], wait: float) -> WorkflowClosed | None:
    # Not asyncio.wait_for: on Python 3.11 it returns a close that arrives in the turn the request
    # is cancelled and swallows the cancel. Shielded: the watch owns `closed`.
    try:
        async with asyncio.timeout(wait):
            return await asyncio.shield(closed)
    except TimeoutError:
        return None


async def _after_wait(
    ctx: FrontendContext, row: ExecutionRow, notification: WorkflowClosed | None
) -> WorkflowResultResponse:
    """The answer once the wait ended: from the notification when it carries the outcome (it is
    published after the close committed: no need to read it back), else from the database."""
    if notification is not None and notification.has_outcome:
        return _from_notification(notification)
    again = await _reread(ctx, row)
    if again.running and notification is not None:
        await asyncio.sleep(VISIBILITY_GRACE_SECONDS)
        again = await _reread(ctx, row)
    return await _response(ctx, again)


async def _reread(ctx: FrontendContext, row: ExecutionRow) -> ExecutionRow:
    # The run cannot vanish (history never deletes a run it is still running); keep the old row
    # if it did, e.g. retention cleanup racing a long poll.
    return await ctx.store.execution(row.namespace, row.workflow_id, row.run_id) or row


def _from_notification(closed: WorkflowClosed) -> WorkflowResultResponse:
    # The same answer _response builds from the row and the close event.
    out = WorkflowResultResponse(
        workflow_id=closed.workflow_id,
        run_id=closed.run_id,
        status=closed.status,
        new_run_id=closed.new_run_id,
    )
    if closed.result is not None:
        out.result = list(closed.result)
    elif closed.failure is not None:
        out.failure = closed.failure
    elif closed.status is WorkflowExecutionStatus.COMPLETED:
        out.result = []
    return out


async def _response(ctx: FrontendContext, row: ExecutionRow) -> WorkflowResultResponse:
    out = WorkflowResultResponse(workflow_id=row.workflow_id, run_id=row.run_id, status=row.status)
    stored: Any = row.result if isinstance(row.result, dict) else {}
    if "result" in stored:
        out.result = [Payload.model_validate(p) for p in stored["result"] or ()]
    elif "failure" in stored:
        out.failure = Failure.model_validate(stored["failure"])
    elif row.status is WorkflowExecutionStatus.COMPLETED:
        out.result = []
    if row.status in (WorkflowExecutionStatus.CONTINUED_AS_NEW, WorkflowExecutionStatus.FAILED) or (
        row.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.TIMED_OUT)
        and _has_cron_schedule(row)
    ):
        # The close event names the next run (continue-as-new, a retry of a failed workflow, or
        # the next run of a cron schedule); it is the run's last event.
        event = await ctx.store.event(row.namespace, row.workflow_id, row.run_id, row.next_event_id - 1)
        attributes = (event or {}).get("attributes") or {}
        out.new_run_id = attributes.get("new_execution_run_id")
    return out


def _has_cron_schedule(row: ExecutionRow) -> bool:
    """A cron run's close names its successor (a closed run's document is small: no pending work)."""
    doc = row.document()
    return doc is not None and bool(doc.cron_schedule)
