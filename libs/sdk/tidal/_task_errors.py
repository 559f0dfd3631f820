"""What a worker answers when it cannot run a task at all: the task could not be parsed (dead-
lettered with the reason), its payloads could not be decoded (the workflow task or activity
attempt fails with the cause, so history records it and its retry backoff applies), or the answer
would be larger than the bus takes (it fails instead of being retried forever)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError
from tidal_schema import Failure
from tidal_schema.limits import MESSAGE_MAX_BYTES
from tidal_schema.messages import (
    TASK_MESSAGE,
    ActivityTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FailActivityTask,
    FailWorkflowTask,
    QueryWorkflowTask,
    WorkflowTask,
)

from ._transport import TaskDelivery

__all__ = ["cannot_page", "oversized_answer", "parse_task", "undecodable"]

log = logging.getLogger("tidal.worker")

# Temporal's cause for a worker-side failure of the task itself.
_CAUSE = "WorkflowWorkerUnhandledFailure"


async def parse_task(
    delivery: TaskDelivery, kinds: tuple[type, ...]
) -> WorkflowTask | ActivityTask | QueryWorkflowTask | None:
    """A task this worker cannot read is acked and dead-lettered with the reason: requeueing it
    would only bring it back at once, forever."""
    try:
        task: WorkflowTask | ActivityTask | QueryWorkflowTask = TASK_MESSAGE.validate_json(delivery.body)
    except ValidationError as exc:
        reason = "invalid task: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        log.error("dead-lettering a malformed task: %s", reason)
        await delivery.dead_letter(reason)
        return None
    if not isinstance(task, kinds):
        reason = f"a {type(task).__name__} delivered to a {kinds[0].__name__} queue"
        log.error("dead-lettering a task: %s", reason)
        await delivery.dead_letter(reason)
        return None
    return task


def undecodable(task: WorkflowTask | ActivityTask, exc: BaseException, identity: str) -> BaseModel:
    """The task's payloads could not be decoded (e.g. encrypted with a key this worker lacks)."""
    failure = Failure(
        message=f"the worker could not decode the task's payloads: {type(exc).__name__}: {exc}",
        type="PayloadDecodeError",
    )
    return _failed(task, failure, identity)


def cannot_page(task: WorkflowTask, exc: BaseException, identity: str) -> BaseModel:
    """The task carries part of the history and the rest could not be read: fail it (history
    retries it with backoff) rather than requeue it at once."""
    return _failed(task, Failure(message=str(exc), type="HistoryFetchError"), identity)


def _failed(task: WorkflowTask | ActivityTask, failure: Failure, identity: str) -> BaseModel:
    ref = dict(
        namespace=task.namespace,
        workflow_id=task.workflow_id,
        run_id=task.run_id,
        scheduled_event_id=task.scheduled_event_id,
        attempt=task.attempt,
        identity=identity,
    )
    if isinstance(task, WorkflowTask):
        return FailWorkflowTask(failure=failure, cause=_CAUSE, **ref)
    return FailActivityTask(failure=failure, **ref)


def oversized_answer(
    answer: BaseModel, size: int, limit: int = MESSAGE_MAX_BYTES
) -> FailWorkflowTask | FailActivityTask | None:
    """A completion of `size` bytes the bus would refuse becomes a failure that names the limit
    (the completion would otherwise be redelivered and refused forever); None if it fits."""
    if size <= limit or not isinstance(answer, CompleteWorkflowTask | CompleteActivityTask):
        return None
    what = "workflow task completion" if isinstance(answer, CompleteWorkflowTask) else "activity result"
    failure = Failure(
        message=f"{what} of {size} bytes exceeds the message size limit of {limit} bytes",
        type="BlobSizeLimitError",
        non_retryable=isinstance(answer, CompleteActivityTask),
    )
    ref = dict(
        namespace=answer.namespace,
        workflow_id=answer.workflow_id,
        run_id=answer.run_id,
        scheduled_event_id=answer.scheduled_event_id,
        attempt=answer.attempt,
        identity=answer.identity,
    )
    if isinstance(answer, CompleteWorkflowTask):
        return FailWorkflowTask(failure=failure, cause="MessageTooLarge", **ref)
    return FailActivityTask(failure=failure, **ref)
