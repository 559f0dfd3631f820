"""StartWorkflowExecution: id-conflict and id-reuse policies, request-id dedup, first task."""

from __future__ import annotations

from datetime import datetime, timedelta

from tidal_schema import WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from tidal_schema import events as ev
from tidal_schema.messages import (
    ErrorCode,
    ErrorReply,
    Reply,
    ScheduledWorkflowStarted,
    StartWorkflowExecution,
    StartWorkflowReply,
    TerminateWorkflowExecution,
    TimerKind,
)

from .. import cron
from ..mutation import Mutation, Outcome, Outgoing, to_workflow, unchanged
from ..operation import CurrentRun, OperationContext
from ..state import MutableState, ParentInfo
from . import eager_start, terminate_workflow

__all__ = ["CurrentRun", "begin", "handle", "refuse", "schedule_first_task", "start", "terminates_existing"]


def handle(ctx: OperationContext, msg: StartWorkflowExecution) -> Outcome:
    """`ctx.current` is the workflow id's current run as the batch sees it, `ctx.state` that run's
    state (the working set loads it, Load.CURRENT_RUN). id_conflict_policy TERMINATE_EXISTING
    terminates it in the same batch (so the same commit) that starts the new run: the outcome
    carries the termination (`Outcome.terminated`), and the start sees no current run."""
    current, terminated = ctx.current, None
    # Eager only for a run that needs nothing else done first (no run terminated for it).
    replaces = terminates_existing(msg, current)
    eager = not replaces and eager_start.grantable(msg)
    if replaces:
        if ctx.state is not None:
            terminate = TerminateWorkflowExecution(
                namespace=msg.namespace,
                workflow_id=msg.workflow_id,
                run_id=ctx.state.run_id,
                reason=f"terminated by start {msg.request_id} (id_conflict_policy TerminateExisting)",
                identity=msg.identity,
            )
            terminated = terminate_workflow.handle(ctx, terminate)
        current = None
    outcome = start(msg, current, new_run_id=ctx.new_run_id, shard_id=ctx.shard_id, now=ctx.now, eager=eager)
    outcome.terminated = terminated
    if outcome.is_new_run:
        outcome.memo = dict(msg.memo or {})
        outcome.search_attributes = dict(msg.search_attributes or {})
    return outcome


def terminates_existing(msg: StartWorkflowExecution, current: CurrentRun | None) -> bool:
    return (
        current is not None
        and current.status is WorkflowExecutionStatus.RUNNING
        and (
            msg.id_conflict_policy is WorkflowIdConflictPolicy.TERMINATE_EXISTING
            # The older spelling of the same thing (Temporal deprecated it for the conflict policy).
            or msg.id_reuse_policy is WorkflowIdReusePolicy.TERMINATE_IF_RUNNING
        )
        and current.start_request_id != msg.request_id  # a retried start: answered, not re-applied
    )


def start(
    msg: StartWorkflowExecution,
    current: CurrentRun | None,
    *,
    new_run_id: str,
    shard_id: int,
    now: datetime,
    parent: ParentInfo | None = None,
    root: tuple[str, str] | None = None,
    eager: bool = False,
) -> Outcome:
    """The start itself, given the current run (None: free to start). `eager`: hand the first
    workflow task back in the reply (api/eager_start.py) rather than to matching."""
    if current is not None:
        if current.start_request_id == msg.request_id:
            reply = StartWorkflowReply(run_id=current.run_id, started=True)
            running = current.status is WorkflowExecutionStatus.RUNNING
            return unchanged(reply, send=_tell_schedule(msg, reply, running=running))
        refusal = refuse(msg, current)
        if refusal is not None:
            refusal.outbox.extend(_tell_schedule(msg, refusal.reply))
            return refusal
    m = begin(msg, new_run_id=new_run_id, shard_id=shard_id, now=now, parent=parent, root=root)
    schedule_first_task(m, msg)
    task = eager_start.take_first_task(m) if eager else None
    m.reply = StartWorkflowReply(run_id=new_run_id, eager_workflow_task=task)
    if msg.scheduled_by is not None:
        m.send_to_workflow(msg.namespace, msg.scheduled_by.schedule_id, _schedule_answer(msg, m.reply))
    return m.finish()


def _tell_schedule(
    msg: StartWorkflowExecution, reply: Reply | None, *, running: bool = True
) -> list[Outgoing]:
    """A schedule's start answers the schedule's shard (as a child start answers its parent)."""
    if msg.scheduled_by is None:
        return []
    answer = _schedule_answer(msg, reply, running=running)
    return [to_workflow(msg.namespace, msg.scheduled_by.schedule_id, answer)]


def _schedule_answer(
    msg: StartWorkflowExecution, reply: Reply | None, *, running: bool = True
) -> ScheduledWorkflowStarted:
    link = msg.scheduled_by
    assert link is not None
    started = isinstance(reply, StartWorkflowReply) and reply.started
    answer = ScheduledWorkflowStarted(
        namespace=link.namespace,
        schedule_id=link.schedule_id,
        incarnation=link.incarnation,
        nominal_time=link.nominal_time,
        started_workflow_id=msg.workflow_id,
        run_id=reply.run_id if isinstance(reply, StartWorkflowReply) else "",
        error="" if started else (reply.message if isinstance(reply, ErrorReply) else "not started"),
        running=running,
    )
    return answer


def begin(
    msg: StartWorkflowExecution,
    *,
    new_run_id: str,
    shard_id: int,
    now: datetime,
    parent: ParentInfo | None = None,
    root: tuple[str, str] | None = None,
) -> Mutation:
    """A new run with its WorkflowExecutionStarted event; signal-with-start records its signal
    between this and `schedule_first_task`, as Temporal orders them. A cron schedule delays the
    first task until its first time, as a start delay does."""
    delay = _first_delay(msg, now)
    state = MutableState(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        run_id=new_run_id,
        workflow_type=msg.workflow_type,
        task_queue=msg.task_queue,
        shard_id=shard_id,
        start_time=now,
        start_request_id=msg.request_id,
        workflow_task_timeout=msg.workflow_task_timeout,
        parent=parent,
        execution_time=now + delay if delay else None,
        static_summary=msg.static_summary,
        static_details=msg.static_details,
        priority=msg.priority,
        scheduled_by=msg.scheduled_by,
        cron_schedule=msg.cron_schedule or None,
    )
    m = Mutation(state, (), now=now, is_new_run=True)
    m.add_event(
        ev.WorkflowExecutionStarted(
            workflow_type=msg.workflow_type,
            task_queue=msg.task_queue,
            input=msg.input,
            workflow_execution_timeout=msg.workflow_execution_timeout,
            workflow_execution_expiration_time=(
                now + msg.workflow_execution_timeout if msg.workflow_execution_timeout else None
            ),
            workflow_run_timeout=msg.workflow_run_timeout,
            workflow_task_timeout=msg.workflow_task_timeout,
            original_execution_run_id=new_run_id,
            first_execution_run_id=new_run_id,
            retry_policy=msg.retry_policy,
            memo=msg.memo,
            search_attributes=msg.search_attributes,
            identity=msg.identity,
            request_id=msg.request_id,
            parent_workflow_id=parent.workflow_id if parent else None,
            parent_run_id=parent.run_id if parent else None,
            root_workflow_id=root[0] if root else None,
            root_run_id=root[1] if root else None,
            first_workflow_task_backoff=delay,
            cron_schedule=msg.cron_schedule or None,
            static_summary=msg.static_summary,
            static_details=msg.static_details,
            priority=msg.priority,
            header=msg.header,
        )
    )
    run_timeout = msg.workflow_run_timeout or msg.workflow_execution_timeout
    if run_timeout is not None:
        m.set_timer(TimerKind.WORKFLOW_RUN_TIMEOUT, fire_at=now + run_timeout)
    return m


def _first_delay(msg: StartWorkflowExecution, now: datetime) -> timedelta | None:
    if msg.cron_schedule:
        return cron.backoff(msg.cron_schedule, now=now, workflow_id=msg.workflow_id) or msg.start_delay
    return msg.start_delay


def schedule_first_task(m: Mutation, msg: StartWorkflowExecution) -> None:
    delay = _first_delay(msg, m.now)
    if delay:
        m.schedule_workflow_task_after(delay, attempt=1)
    else:
        m.schedule_workflow_task()


def refuse(msg: StartWorkflowExecution, current: CurrentRun) -> Outcome | None:
    if current.status is WorkflowExecutionStatus.RUNNING:
        if msg.id_conflict_policy is WorkflowIdConflictPolicy.USE_EXISTING:
            return unchanged(StartWorkflowReply(run_id=current.run_id, started=False))
        # TERMINATE_EXISTING never gets here: the shard terminates the running run first.
        return unchanged(
            ErrorReply(
                code=ErrorCode.ALREADY_STARTED,
                message=f"workflow {msg.workflow_id!r} is already running (run {current.run_id})",
                run_id=current.run_id,
            )
        )
    policy = msg.id_reuse_policy
    if policy is WorkflowIdReusePolicy.REJECT_DUPLICATE or (
        policy is WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
        and current.status is WorkflowExecutionStatus.COMPLETED
    ):
        return unchanged(
            ErrorReply(
                code=ErrorCode.ALREADY_STARTED,
                message=(
                    f"workflow {msg.workflow_id!r} already ran (run {current.run_id}, "
                    f"{current.status.value}) and the id reuse policy is {policy.value}"
                ),
                run_id=current.run_id,
            )
        )
    return None
