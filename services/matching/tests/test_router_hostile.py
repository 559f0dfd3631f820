"""A workflow or query task whose sticky queue no AMQP frame can carry (a completion may name up
to 1,000 characters) goes to its task queue's shared queue: publishing to such a name raised
(ValueError, before anything was sent) instead of coming back unroutable, so the task never
reached a worker."""

from __future__ import annotations

from tidal_matching.router import destinations
from tidal_schema import names
from tidal_schema.messages import AddWorkflowTask, WorkflowTask


def test_a_sticky_queue_too_long_for_amqp_is_skipped() -> None:
    task = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=2,
        history_length=0,
        events=(),
        history_routing_key="shard.0",
    )
    shared = names.workflow_task_queue("default", "q")
    long = names.STICKY_QUEUE_PREFIX + "é" * 122  # 257 bytes in 135 characters
    assert destinations(AddWorkflowTask(task=task, sticky_queue=long)) == [shared]
    fits = names.STICKY_QUEUE_PREFIX + "é" * 121
    assert destinations(AddWorkflowTask(task=task, sticky_queue=fits)) == [fits, shared]
