"""The fused completion: an activity result with the next workflow task's completion riding on it
(`CompleteActivityTask.workflow_task`; docs/performance.md, "The fused completion").

The worker that holds the run and ran its eager attempt (whose `ActivityTask.next_event_id` was
s) applied the result to its cached instance itself, assuming the events history writes for a
plain completion followed by the sticky task: s ActivityTaskStarted, s + 1 ActivityTaskCompleted,
s + 2 WorkflowTaskScheduled, s + 3 WorkflowTaskStarted. It ran that task and sends its completion
here. Those ids hold only if nothing else reached the run since the eager attempt was handed out,
so history accepts only then (`accepted`), and applies the result and the task's completion in
one transaction: complete_activity_task writes the result (which schedules the task at s + 2),
and complete_workflow_task's own transition completes it as a task the worker started. The sticky
task for it is never sent (the transition ends it in the same mutation).

Otherwise the nested completion is ignored as a whole, never partly applied: the result alone is
applied, exactly as a plain CompleteActivityTask, the task it schedules goes to the worker, and
the worker, whose instance ran ahead on assumed events, replays from history. Refusing is always
safe; accepting is safe only if every id the worker assumed is the one history writes.
"""

from __future__ import annotations

from tidal_schema.messages import CompleteActivityTask, CompleteWorkflowTask

from .. import updates
from ..mutation import Mutation
from ..state import ActivityInfo, MutableState
from .complete_workflow_task import complete_started

__all__ = ["accepted", "apply"]


def accepted(
    state: MutableState, info: ActivityInfo, msg: CompleteActivityTask
) -> CompleteWorkflowTask | None:
    """The nested completion if history accepts it, checked before the result is written (`info`
    is the current attempt `msg` completes); None: refused, or none carried."""
    nested = msg.workflow_task
    if nested is None:
        return None
    s = nested.scheduled_event_id - 2
    if state.next_event_id != s or nested.attempt != 1 or (nested.seen_event_id or s + 2) != s + 2:
        return None  # something reached the run since the eager attempt, or not the task assumed
    run = (state.namespace, state.workflow_id, state.run_id)
    if (nested.namespace, nested.workflow_id, nested.run_id) != run or msg.run_id != state.run_id:
        return None  # another run's task, or a result addressed by workflow id only
    if state.workflow_task is not None or state.wft_retry_attempt is not None or state.buffered_events:
        return None
    if any(u.stage == updates.ADMITTED for u in state.updates.values()):
        return None  # an admitted update goes out with the next task, which the worker never got
    if not info.started_identity or nested.identity != info.started_identity:
        # Through matching (no worker was told s), or not the worker it was handed to (the
        # ActivityTaskStarted history writes names that one, not the sender).
        return None
    return nested


def apply(m: Mutation, info: ActivityInfo, nested: CompleteWorkflowTask) -> None:
    """Complete the task the result just scheduled as the worker's: after `accepted`, and after
    the result was recorded in `m` (which scheduled the task at s + 2)."""
    wft = m.state.workflow_task
    assert wft is not None and wft.scheduled_event_id == nested.scheduled_event_id, "not accepted()"
    # The worker took the task when it had the result, after the attempt was handed to it; its
    # start time is bounded below by that hand-out, not by this transaction (which it precedes).
    wft.scheduled_time = info.current_attempt_scheduled_time
    complete_started(m, nested)
