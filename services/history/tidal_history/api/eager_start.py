"""Which starts get their first workflow task back in the reply (Temporal's eager workflow start,
docs/performance.md "Eager workflow start").

A client that has a worker of its own on the run's task queue, with a workflow task slot reserved,
sets `StartWorkflowExecution.request_eager_execution`. History grants it only for a start that
schedules the first task right now: a plain new run (no run terminated for it, no start delay, no
cron schedule, not started by a schedule; signal-with-start and update-with-start never ask) whose
inputs fit `MAX_INPUT_BYTES`. The task then counts as started when handed out, as a sticky task
does (events that arrive meanwhile are buffered for the next task), and it travels in the start's
reply instead of the outbox: the reply is published only after the commit, so the task handed out
is durable. Its WorkflowTaskScheduled and the task's timeout timer are written in the same
transaction as the start, so if the reply or the worker is lost the timeout records
WorkflowTaskTimedOut and schedules attempt 2 through matching: nothing is lost, the run is only
late by the task timeout.
"""

from __future__ import annotations

from tidal_schema.messages import StartWorkflowExecution, WorkflowTask
from tidal_schema.sizes import payloads_size

from ..mutation import Mutation

__all__ = ["MAX_INPUT_BYTES", "grantable", "take_first_task"]

MAX_INPUT_BYTES = 256 * 1024
"""Input, memo and header bytes above which a start is not granted eagerly: the first task
carries them all back in the reply, and a large reply costs more than the hop it saves."""


def grantable(msg: StartWorkflowExecution) -> bool:
    """Whether the start itself allows an eager first task (the run state is checked by `start`)."""
    return (
        msg.request_eager_execution
        and msg.start_delay is None
        and not msg.cron_schedule
        and msg.scheduled_by is None
        and payloads_size((*msg.input, *msg.memo.values(), *msg.header.values())) <= MAX_INPUT_BYTES
    )


def take_first_task(m: Mutation) -> WorkflowTask | None:
    """The new run's first task, for the reply instead of matching (None: it was not scheduled now)."""
    return m.hand_out_workflow_task()
