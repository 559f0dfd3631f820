"""SignalWithStartWorkflowExecution: signal the running run, or start one and record the signal in
the same transaction (WorkflowExecutionStarted, WorkflowExecutionSignaled, WorkflowTaskScheduled,
as Temporal orders them), so the first workflow task already sees the signal."""

from __future__ import annotations

import dataclasses

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, SignalWithStartWorkflowExecution, StartWorkflowReply

from .. import dedup
from ..mutation import Outcome, unchanged
from ..operation import OperationContext
from . import signal_workflow, start_workflow


def handle(ctx: OperationContext, msg: SignalWithStartWorkflowExecution) -> Outcome:
    """`current` is the workflow id's current run, `state`/`history` that run's (None/empty when
    there is none). A running run is signalled whatever `id_conflict_policy` says (Temporal's
    signal-with-start behaves as UseExisting); otherwise `id_reuse_policy` decides the start."""
    current, state = ctx.seen_current, ctx.state
    new_run_id, shard_id, now = ctx.new_run_id, ctx.shard_id, ctx.now
    if current is not None and current.start_request_id == msg.request_id:
        # This very request started the run (a redelivery or a client retry).
        return unchanged(StartWorkflowReply(run_id=current.run_id, started=True))
    applied = dedup.applied_to(state, dedup.SIGNAL, msg.request_id) if state is not None else None
    if applied is not None:
        # Its signal was applied to a run that has closed since: a retry must not start another.
        return unchanged(StartWorkflowReply(run_id=applied, started=False))
    if state is not None and state.is_running:
        outcome = signal_workflow.handle(ctx, msg.signal_part(state.run_id))
        if isinstance(outcome.reply, AckReply):
            reply = StartWorkflowReply(run_id=state.run_id, started=False)
            return dataclasses.replace(outcome, reply=reply)
        return outcome
    start = msg.start_part()
    if current is not None:
        refusal = start_workflow.refuse(start, current)
        if refusal is not None:
            return refusal
    m = start_workflow.begin(start, new_run_id=new_run_id, shard_id=shard_id, now=now)
    # Remembered as a signal id too, so a retry that finds the run running acks instead of
    # signalling twice.
    dedup.remember(m.state, dedup.SIGNAL, msg.request_id, now=now)
    m.add_event(
        ev.WorkflowExecutionSignaled(
            signal_name=msg.signal_name,
            input=msg.signal_input,
            identity=msg.identity,
            request_id=msg.request_id,
            # As Temporal's signal-with-start: the start's header goes with its signal.
            header=msg.header,
        )
    )
    start_workflow.schedule_first_task(m, start)
    m.reply = StartWorkflowReply(run_id=new_run_id)
    outcome = m.finish()
    outcome.memo = dict(msg.memo or {})
    outcome.search_attributes = dict(msg.search_attributes or {})
    return outcome
