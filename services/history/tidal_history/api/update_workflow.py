"""UpdateWorkflowExecution: admit an update (deduplicated by update id) and get it to a worker.

Nothing is written to history here: the update waits in mutable state and travels with the
outstanding workflow task's successor, or with a speculative task (see `updates.py`)."""

from __future__ import annotations

from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, UpdateWorkflowExecution

from .. import dedup, updates
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext
from ..state import UpdateInfo


def handle(ctx: OperationContext, msg: UpdateWorkflowExecution) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    if state is None or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no workflow {msg.workflow_id!r} to update")
        )
    if msg.update_id in state.updates:
        return unchanged(AckReply(run_id=state.run_id))  # a retry: the frontend reads its outcome
    applied = dedup.applied_to(state, dedup.UPDATE, msg.update_id)
    if applied is not None:
        # Its record was dropped (dedup.py keeps the id longer), or it belongs to the run this one
        # continued: the reply names that run, where the frontend reads the outcome.
        return unchanged(AckReply(run_id=applied))
    if not state.is_running:
        return unchanged(
            ErrorReply(
                code=ErrorCode.NOT_FOUND,
                message=f"workflow {msg.workflow_id!r} is not running: cannot update it",
            )
        )
    if updates.in_flight(state) >= updates.MAX_IN_FLIGHT:
        return unchanged(
            ErrorReply(
                code=ErrorCode.RESOURCE_EXHAUSTED,
                message=f"limit on number of concurrent in-flight updates has been reached "
                f"({updates.MAX_IN_FLIGHT}): try again once the workflow completed some",
                run_id=state.run_id,
            )
        )
    m = Mutation(state, history, now=now)
    updates.admit(
        state, UpdateInfo(update_id=msg.update_id, name=msg.name, input=msg.input, header=msg.header), now=now
    )
    if state.workflow_task is None and state.wft_retry_attempt is None:
        updates.schedule_speculative(m, history)
    # Otherwise the outstanding (or retrying) task's successor carries it (updates.after_task).
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
