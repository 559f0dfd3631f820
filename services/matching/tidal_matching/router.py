"""Pure routing decisions: which worker queue a task goes to."""

from __future__ import annotations

from tidal_schema import names
from tidal_schema.messages import AddActivityTask, AddQueryTask, AddWorkflowTask, MatchingMessage


def destinations(msg: MatchingMessage) -> list[str]:
    """Queues to try in order: the sticky queue first (the worker that has the run cached),
    then the task queue's shared queue. Queries go where workflow tasks go: the worker that has
    the run cached answers without replaying."""
    if isinstance(msg, AddWorkflowTask | AddQueryTask):
        shared = names.workflow_task_queue(msg.task.namespace, msg.task.task_queue)
        # A sticky queue name no AMQP frame can carry (a forged or buggy completion's) is no
        # worker's: its publish would raise before it is sent, not come back unroutable.
        sticky = msg.sticky_queue
        return [sticky, shared] if sticky and names.fits_queue_name(sticky) else [shared]
    assert isinstance(msg, AddActivityTask)
    return [names.activity_task_queue(msg.task.namespace, msg.task.task_queue)]


def task_priority(msg: MatchingMessage) -> int:
    """The AMQP priority the task is published with: its priority key's (Temporal's: 1 first,
    default 3; names.task_priority); queries go first, someone is waiting for them."""
    if isinstance(msg, AddQueryTask):
        return names.QUERY_TASK_PRIORITY
    priority = msg.task.priority
    return names.task_priority(priority.priority_key if priority is not None else None)
