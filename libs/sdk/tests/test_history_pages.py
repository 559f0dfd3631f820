"""When a worker must read the older events of a partial workflow task (_history_pages)."""

from datetime import UTC, datetime

from tidal._history_pages import needs_older_events
from tidal_schema import HistoryEvent
from tidal_schema import events as ev
from tidal_schema.messages import WorkflowTask

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _task(first: int, scheduled: int) -> WorkflowTask:
    events = tuple(
        HistoryEvent(event_id=i, event_time=T0, attributes=ev.WorkflowTaskScheduled(task_queue="q"))
        for i in range(first, scheduled + 1)
    )
    return WorkflowTask(
        namespace="default",
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=scheduled,
        first_event_id=first,
        history_length=scheduled,
        events=events,
        history_routing_key="shard.0",
    )


def test_a_whole_history_needs_nothing_more() -> None:
    assert not needs_older_events(_task(1, 8), None)
    assert not needs_older_events(_task(1, 8), 3)


def test_a_partial_task_needs_the_older_events_unless_the_cache_covers_them() -> None:
    task = _task(6, 8)  # carries events 6..8
    assert needs_older_events(task, None)  # nothing cached (restarted worker, fallback)
    assert needs_older_events(task, 3)  # a gap: events 4 and 5 are missing
    assert not needs_older_events(task, 5)  # the sticky case: the worker saw up to 5
    assert not needs_older_events(task, 7)  # cached further on: the extra events are skipped
    assert needs_older_events(task, 9)  # an instance ahead of the task is stale: replay
