"""UpdateWithStartWorkflowExecution (Temporal's update-with-start): start a run and admit the
update in one transaction, so the first workflow task carries the update; or, when the workflow
is running and `id_conflict_policy` is UseExisting, admit the update to that run only.

Like every update, nothing about the update is written to history here: it waits in the new (or
running) run's mutable state until a worker accepts or rejects it (`updates.py`). A duplicate
request (same `request_id` for the start, same `update_id` for the update) is answered with the
run it reached, never a second start or a second admission."""

from __future__ import annotations

import dataclasses

from tidal_schema import WorkflowIdConflictPolicy
from tidal_schema.messages import (
    AckReply,
    ErrorCode,
    ErrorReply,
    StartWorkflowReply,
    UpdateWithStartWorkflowExecution,
)

from .. import dedup, updates
from ..mutation import Outcome, unchanged
from ..operation import OperationContext
from ..state import UpdateInfo
from . import start_workflow, update_workflow

__all__ = ["handle"]


def handle(ctx: OperationContext, msg: UpdateWithStartWorkflowExecution) -> Outcome:
    """`current` is the workflow id's current run, `state`/`history` that run's (None/empty when
    there is none)."""
    current, state = ctx.seen_current, ctx.state
    new_run_id, shard_id, now = ctx.new_run_id, ctx.shard_id, ctx.now
    if current is not None and current.start_request_id == msg.request_id:
        # This very request started the run (a redelivery or a client retry): the update was
        # admitted with it.
        return unchanged(StartWorkflowReply(run_id=current.run_id, started=True))
    if state is not None and (
        msg.update_id in state.updates or dedup.applied_to(state, dedup.UPDATE, msg.update_id)
    ):
        return unchanged(StartWorkflowReply(run_id=state.run_id, started=False))
    if state is not None and state.is_running:
        if msg.id_conflict_policy is not WorkflowIdConflictPolicy.USE_EXISTING:
            return unchanged(
                ErrorReply(
                    code=ErrorCode.ALREADY_STARTED,
                    message=f"workflow {msg.workflow_id!r} is already running (run {state.run_id}); "
                    "update-with-start updates a running run only with id_conflict_policy UseExisting",
                    run_id=state.run_id,
                )
            )
        outcome = update_workflow.handle(ctx, msg.update_part(state.run_id))
        if isinstance(outcome.reply, AckReply):
            return dataclasses.replace(outcome, reply=StartWorkflowReply(run_id=state.run_id, started=False))
        return outcome
    start = msg.start_part()
    if current is not None:
        refusal = start_workflow.refuse(start, current)
        if refusal is not None:
            return refusal
    m = start_workflow.begin(start, new_run_id=new_run_id, shard_id=shard_id, now=now)
    updates.admit(
        m.state,
        UpdateInfo(
            update_id=msg.update_id, name=msg.update_name, input=msg.update_input, header=msg.update_header
        ),
        now=now,
    )
    start_workflow.schedule_first_task(m, start)  # its task message carries the admitted update
    m.reply = StartWorkflowReply(run_id=new_run_id)
    outcome = m.finish()
    outcome.memo = dict(msg.memo or {})
    outcome.search_attributes = dict(msg.search_attributes or {})
    return outcome
